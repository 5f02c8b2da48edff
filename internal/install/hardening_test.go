package install_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/install"
)

// markerScript writes a script that creates marker when it runs.
func markerScript(t *testing.T, marker string) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "plugin")
	body := "#!/bin/sh\ntouch '" + marker + "'\n"
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(body))
	return path, hex.EncodeToString(h[:])
}

// Issue 12 item 3: the candidate binary runs for its handshake check only
// when its checksum is pinned, or the user agreed. Before, an unpinned
// --from FILE was run at once.
func TestHandshakeRunsOnlyWhenPinned(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		pin     bool
		confirm func(context.Context, install.Candidate) (bool, error)
		runs    bool
		wantErr error
	}{
		{name: "unpinned, nobody to ask", wantErr: install.ErrUnpinned},
		{name: "unpinned, declined", confirm: func(context.Context, install.Candidate) (bool, error) { return false, nil }, wantErr: install.ErrDeclined},
		{name: "unpinned, agreed", confirm: func(context.Context, install.Candidate) (bool, error) { return true, nil }, runs: true},
		{name: "pinned with its sha256", pin: true, runs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			bin, sum := markerScript(t, marker)
			in, _ := newInstaller(t, install.WithHandshakeTimeout(5*time.Second))
			req := install.Request{Name: "broker/fake", From: bin, Confirm: tt.confirm}
			var asked install.Candidate
			if tt.confirm != nil {
				req.Confirm = func(ctx context.Context, c install.Candidate) (bool, error) {
					asked = c
					return tt.confirm(ctx, c)
				}
			}
			if tt.pin {
				req.FromSHA256 = sum
			}
			_, err := in.Install(ctx, req)
			if err == nil {
				t.Fatal("a shell script passed the handshake check")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			_, statErr := os.Stat(marker)
			if ran := statErr == nil; ran != tt.runs {
				t.Fatalf("the candidate ran: %v, want %v (err %v)", ran, tt.runs, err)
			}
			if tt.confirm != nil && (asked.SHA256 != sum || asked.From != bin) {
				t.Errorf("asked about %+v, want the file and its sha256 %s", asked, sum)
			}
			if errors.Is(err, install.ErrUnpinned) && !strings.Contains(err.Error(), sum) {
				t.Errorf("the refusal does not give the sha256 to pin: %v", err)
			}
		})
	}
}

// Issue 12 item 6: `install --from` a FIFO hung (and held the directory
// lock); it is refused at once as not a regular file.
func TestInstallFromFIFORefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	in, _ := newInstaller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, from := range []string{fifo, "file://" + fifo} {
		done := make(chan error, 1)
		go func() {
			_, err := in.Install(ctx, install.Request{Name: "broker/fake", From: from, FromSHA256: strings.Repeat("0", 64)})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "named pipe") {
				t.Errorf("--from %s: %v, want a refusal naming the FIFO", from, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("--from %s: still blocked after 5s", from)
		}
	}
	entries, _ := os.ReadDir(in.Dir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".micro-new-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// Issue 12 item 6: an install (and verify) removes the staging directories
// of installs that were killed, whose owner process is gone, and keeps
// those of a process that lives.
func TestStaleStagingSwept(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	alive := exec.Command("sleep", "60")
	if err := alive.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { alive.Process.Kill(); alive.Wait() }()

	for _, op := range []string{"install", "verify"} {
		t.Run(op, func(t *testing.T) {
			in, _ := newInstaller(t)
			if err := os.MkdirAll(in.Dir(), 0o755); err != nil {
				t.Fatal(err)
			}
			deadDir := filepath.Join(in.Dir(), fmt.Sprintf(".micro-new-%d-123", dead.Process.Pid))
			oldDir := filepath.Join(in.Dir(), ".micro-new-3141592") // no owner recorded
			liveDir := filepath.Join(in.Dir(), fmt.Sprintf(".micro-new-%d-456", alive.Process.Pid))
			for _, d := range []string{deadDir, oldDir, liveDir} {
				if err := os.MkdirAll(filepath.Join(d, "partial"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			switch op {
			case "install":
				if _, err := in.Install(context.Background(), install.Request{Name: "broker/fake", From: fakes["v1"], FromSHA256: sumOf(t, fakes["v1"])}); err != nil {
					t.Fatal(err)
				}
			case "verify":
				if _, err := in.Verify(context.Background(), nil, ""); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range []string{deadDir, oldDir} {
				if _, err := os.Stat(d); err == nil {
					t.Errorf("%s: stale staging directory %s was not removed", op, filepath.Base(d))
				}
			}
			if _, err := os.Stat(liveDir); err != nil {
				t.Errorf("%s removed the staging directory of a live process: %v", op, err)
			}
		})
	}
}

// Issue 12 item 6: while another micro-new holds the plugin directory's
// lock, an install says which process it waits for, and stops waiting when
// its context ends (SIGINT, SIGTERM).
func TestLockWaitNamesTheHolder(t *testing.T) {
	in, _ := newInstaller(t)
	if err := os.MkdirAll(in.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.Dir(), ".micro-new.owner"), []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waited := make(chan int, 1)
	in2 := install.New(in.Dir(), install.WithHandshake(testHandshake), install.WithLockWait(func(pid int) { waited <- pid }))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = in2.Install(ctx, install.Request{Name: "broker/fake", From: fakes["v1"], FromSHA256: sumOf(t, fakes["v1"])})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("install under a held lock: %v, want the context's deadline", err)
	}
	select {
	case pid := <-waited:
		if pid != 4242 {
			t.Errorf("waiting for pid %d, want 4242", pid)
		}
	default:
		t.Fatal("the wait was not reported")
	}
}

// hangingServer accepts connections and never answers; stall, when set, is
// sent first as the start of a response that then stops.
func hangingServer(t *testing.T, stall string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
			if stall != "" {
				// Answer once the request has arrived, then stop.
				go func() {
					buf := make([]byte, 0, 4096)
					tmp := make([]byte, 1024)
					for !bytes.Contains(buf, []byte("\r\n\r\n")) {
						n, err := c.Read(tmp)
						if err != nil {
							return
						}
						buf = append(buf, tmp[:n]...)
					}
					c.Write([]byte(stall))
				}()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// Issue 13 item 6: downloads and catalogs have connect, header and idle
// timeouts and a total deadline, and the error names the URL. Before, a
// server that accepted and never answered hung micro-new for ever.
func TestNetworkTimeouts(t *testing.T) {
	tm := install.TimeoutsFrom(time.Second)
	start := time.Now()
	t.Run("download, no answer", func(t *testing.T) {
		url := hangingServer(t, "") + "/plugin"
		in, _ := newInstaller(t, install.WithTimeouts(tm), install.WithHTTPClient(install.NewHTTPClient(tm)))
		_, err := in.Install(context.Background(), install.Request{Name: "broker/fake", From: url, FromSHA256: strings.Repeat("0", 64)})
		var te *install.TimeoutError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "MICRO_HTTP_TIMEOUT") {
			t.Fatalf("err = %v, want a timeout naming %s", err, url)
		}
	})
	t.Run("download, stalls", func(t *testing.T) {
		url := hangingServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome bytes") + "/plugin"
		in, _ := newInstaller(t, install.WithTimeouts(tm), install.WithHTTPClient(install.NewHTTPClient(tm)))
		_, err := in.Install(context.Background(), install.Request{Name: "broker/fake", From: url, FromSHA256: strings.Repeat("0", 64)})
		if err == nil || !strings.Contains(err.Error(), "stalled") || !strings.Contains(err.Error(), url) {
			t.Fatalf("err = %v, want a stall naming %s", err, url)
		}
	})
	t.Run("catalog, no answer", func(t *testing.T) {
		url := hangingServer(t, "") + "/catalog.json"
		_, err := catalog.Load(context.Background(), url, catalog.WithHTTPClient(install.NewHTTPClient(install.TimeoutsFrom(time.Hour))), catalog.WithTimeout(time.Second))
		if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "within 1s") {
			t.Fatalf("err = %v, want the total deadline naming %s", err, url)
		}
	})
	t.Run("catalog, body stalls", func(t *testing.T) {
		url := hangingServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"format\":") + "/catalog.json"
		_, err := catalog.Load(context.Background(), url, catalog.WithHTTPClient(&http.Client{}), catalog.WithTimeout(time.Second))
		if err == nil || !strings.Contains(err.Error(), url) {
			t.Fatalf("err = %v, want the total deadline naming %s", err, url)
		}
	})
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the hanging servers took %v, want well under 15s", d)
	}
}

// FuzzParseHandshake feeds ParseHandshake the first line of a candidate
// binary's output, which the binary, not micro-new, chooses.
func FuzzParseHandshake(f *testing.F) {
	for _, s := range []string{"1|1|unix|/tmp/plugin1|grpc|cert\n", "1|1|tcp|127.0.0.1:10000|grpc", "", "|||||", "1|x|unix|a|grpc", strings.Repeat("9", 400) + "|1|unix|a|grpc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		h, err := install.ParseHandshake(line)
		if err != nil {
			if len(err.Error()) > 1000 {
				t.Errorf("an error of %d bytes: the line is not cut", len(err.Error()))
			}
			return
		}
		if strings.ContainsAny(h.Network+h.Addr+h.Protocol, "|\n") {
			t.Errorf("a field holds a separator: %+v", h)
		}
	})
}
