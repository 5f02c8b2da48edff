package plugin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"lukechampine.com/blake3"

	"github.com/seedmicro/micro/core/plugin"
)

// selfSum is the SHA-256 of the test binary, which serves the test plugins.
// selfBLAKE3 is the BLAKE3-256 of the test binary.
func selfBLAKE3(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := blake3.Sum256(data)
	return sum[:]
}

func selfSum(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

// copySelf copies the test binary to dir/name with mode perm and returns
// the copy's path.
func copySelf(t *testing.T, dir, name string, perm os.FileMode) string {
	t.Helper()
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, name)
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

// flipByte flips one bit of the byte in the middle of the file at path.
func flipByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	off := fi.Size() / 2
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// children returns the pids of the child processes of this process.
func children(t *testing.T) []int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil || len(tasks) == 0 {
		t.Skipf("cannot list child processes: %v", err)
	}
	var pids []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// refusedBeforeExec opens path and checks that it fails with want (and a
// message containing msg) and that no process was started: no child
// appeared, and the test plugin did not write its marker.
func refusedBeforeExec(t *testing.T, path string, want error, msg string, opts ...plugin.Option) {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "pid")
	t.Setenv(envMarker, marker)
	t.Setenv(envServe, "store")
	before := children(t)
	opts = append([]plugin.Option{plugin.WithLogger(quiet)}, opts...)
	c, err := plugin.Open(t.Context(), path, plugin.KindStore, opts...)
	if err == nil {
		c.Close()
		t.Fatalf("Open %s succeeded, want %v", path, want)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("Open = %v, want an error matching %v", err, want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("Open = %q, want it to say %q", err, msg)
	}
	t.Log(err)
	for _, pid := range children(t) {
		if !slices.Contains(before, pid) {
			t.Errorf("a process %d was started", pid)
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the plugin ran (marker: %v)", err)
	}
}

func TestTamperedBinaryIsNotStarted(t *testing.T) {
	sum := selfSum(t)
	path := copySelf(t, t.TempDir(), "micro-plugin-store-test", 0o755)
	flipByte(t, path)
	refusedBeforeExec(t, path, plugin.ErrChecksumMismatch, "checksum mismatch", plugin.WithChecksum(sum))
	// With both digests the host checks BLAKE3, and refuses all the same.
	refusedBeforeExec(t, path, plugin.ErrChecksumMismatch, "has the BLAKE3 checksum",
		plugin.WithPin(plugin.Pin{SHA256: sum, BLAKE3: selfBLAKE3(t)}))
}

// A pin of the wrong length is refused before anything is opened or
// started, with what is wrong.
func TestMalformedPinIsRefused(t *testing.T) {
	path := copySelf(t, t.TempDir(), "micro-plugin-store-test", 0o755)
	short := plugin.WithPin(plugin.Pin{BLAKE3: selfBLAKE3(t)[:16]})
	refusedBeforeExecMsg(t, path, "the pinned BLAKE3 checksum is 16 bytes; want 32", short)
	long := plugin.WithChecksum(append(selfSum(t), 0))
	refusedBeforeExecMsg(t, path, "the pinned SHA-256 checksum is 33 bytes; want 32", long)
	empty := plugin.WithPinFunc(func(context.Context, string) (plugin.Pin, error) { return plugin.Pin{}, nil })
	refusedBeforeExecMsg(t, path, "no checksum pinned", empty)
}

// refusedBeforeExecMsg is refusedBeforeExec for an error that matches no
// sentinel.
func refusedBeforeExecMsg(t *testing.T, path, msg string, opts ...plugin.Option) {
	t.Helper()
	refusedBeforeExec(t, path, nil, msg, opts...)
}

func TestUnsafeBinaryIsNotStarted(t *testing.T) {
	t.Run("group-writable", func(t *testing.T) {
		path := copySelf(t, t.TempDir(), "micro-plugin-store-test", 0o775)
		refusedBeforeExec(t, path, plugin.ErrUnsafeBinary, "writable by group or others")
	})
	t.Run("other-writable", func(t *testing.T) {
		path := copySelf(t, t.TempDir(), "micro-plugin-store-test", 0o757)
		refusedBeforeExec(t, path, plugin.ErrUnsafeBinary, "writable by group or others")
	})
	t.Run("symlinked directory", func(t *testing.T) {
		dir := t.TempDir()
		real := filepath.Join(dir, "real")
		os.Mkdir(real, 0o755)
		copySelf(t, real, "micro-plugin-store-test", 0o755)
		if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}
		refusedBeforeExec(t, filepath.Join(dir, "link", "micro-plugin-store-test"), plugin.ErrUnsafeBinary, "is a symbolic link")
	})
	t.Run("symlinked ancestor", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "real", "plugins"), 0o755)
		copySelf(t, filepath.Join(dir, "real", "plugins"), "micro-plugin-store-test", 0o755)
		os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link"))
		refusedBeforeExec(t, filepath.Join(dir, "link", "plugins", "micro-plugin-store-test"), plugin.ErrUnsafeBinary, "is a symbolic link")
	})
	t.Run("symlinked binary", func(t *testing.T) {
		dir := t.TempDir()
		real := copySelf(t, dir, "real", 0o755)
		os.Symlink(real, filepath.Join(dir, "micro-plugin-store-test"))
		refusedBeforeExec(t, filepath.Join(dir, "micro-plugin-store-test"), plugin.ErrUnsafeBinary, "is a symbolic link")
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		refusedBeforeExec(t, dir, plugin.ErrUnsafeBinary, "not a regular file")
	})
}

// TestChecksumBeforeEveryLaunch: the checksum is looked up and verified
// again before a restart, and a binary replaced meanwhile is not started.
func TestChecksumBeforeEveryLaunch(t *testing.T) {
	sum := selfSum(t)
	dir := t.TempDir()
	path := copySelf(t, dir, "micro-plugin-store-test", 0o755)
	var lookups atomic.Int32
	t.Setenv(envServe, "store")
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	c, err := plugin.Open(t.Context(), path, plugin.KindStore, plugin.WithLogger(quiet),
		plugin.WithChecksumFunc(func(_ context.Context, name string) ([]byte, error) {
			if name != "store/test" {
				t.Errorf("checksum looked up for %q", name)
			}
			lookups.Add(1)
			return sum, nil
		}))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()

	// A tampered binary takes the place of the installed one (a rename:
	// the running one cannot be written to).
	tampered := copySelf(t, dir, "tampered", 0o755)
	flipByte(t, tampered)
	if err := os.Rename(tampered, path); err != nil {
		t.Fatal(err)
	}
	pid := plugin.PID(c)
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	var lastErr error
	for lookups.Load() < 3 { // the first launch and two restarts
		if time.Now().After(deadline) {
			t.Fatalf("%d checksum lookups, want 3", lookups.Load())
		}
		_, lastErr = c.Store().List(t.Context(), "")
		time.Sleep(10 * time.Millisecond)
	}
	if _, lastErr = c.Store().List(t.Context(), ""); !errors.Is(lastErr, plugin.ErrRestarting) || !errors.Is(lastErr, plugin.ErrChecksumMismatch) {
		t.Errorf("List with a tampered binary = %v, want an error matching ErrRestarting and ErrChecksumMismatch", lastErr)
	}
	if p := plugin.PID(c); p != 0 {
		t.Errorf("a process %d runs from the tampered binary", p)
	}
	t.Log(lastErr)

	// The right binary back: the plugin comes back.
	copySelf(t, dir, "good", 0o755)
	if err := os.Rename(filepath.Join(dir, "good"), path); err != nil {
		t.Fatal(err)
	}
	waitRestarted(t, c, pid, 10*time.Second)
}

// TestForeignClientIsRejected dials the plugin's socket without the host's
// certificate.
func TestForeignClientIsRejected(t *testing.T) {
	c := mustOpenChild(t, plugin.KindStore, "store")
	addr := plugin.Addr(c)
	if addr == nil || addr.Network() != "unix" {
		t.Fatalf("plugin address %v, want a unix socket", addr)
	}
	dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, addr.Network(), addr.String())
	})
	check := func(t *testing.T, creds grpc.DialOption) {
		t.Helper()
		cc, err := grpc.NewClient("passthrough:///plugin", dialer, creds)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err = grpc_health_v1.NewHealthClient(cc).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
		if err == nil {
			t.Fatal("a foreign client reached the plugin")
		}
		t.Log(err)
	}
	t.Run("plaintext", func(t *testing.T) {
		check(t, grpc.WithTransportCredentials(insecure.NewCredentials()))
	})
	t.Run("TLS without a certificate", func(t *testing.T) {
		check(t, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})))
	})
	t.Run("TLS with a certificate of its own", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost", Organization: []string{"micro plugin"}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		check(t, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			InsecureSkipVerify: true,
			// Sent whatever CAs the plugin asks for.
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil },
		})))
	})
	// The host's own channel still works.
	if _, err := c.Store().List(t.Context(), ""); err != nil {
		t.Errorf("List: %v", err)
	}
}
