package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/internal/archive"
	"github.com/seedmicro/micro/internal/catalog"
)

// produce builds or fetches the plugin binary into staging and returns its
// path and the source to record.
func (in *Installer) produce(ctx context.Context, req *Request, staging string) (bin, source string, err error) {
	binName := pluginlock.BinaryName(req.Name)
	out := filepath.Join(staging, binName)
	fail := func(op string, err error, fix string) (string, string, error) {
		return "", "", &Error{Plugin: req.Name, Catalog: req.Catalog, Op: op, Err: err, Fix: fix}
	}
	ref := req.Name
	if req.Catalog != "" && req.Version != nil {
		ref = req.Catalog + ":" + req.Name + "@" + req.Version.Version
	}

	if req.From != "" {
		from := req.From
		if looksLikeURL(from) {
			u, _ := url.Parse(from)
			if u.Scheme != "file" && req.FromSHA256 == "" {
				return fail("fetch "+from, errors.New("a URL needs the sha256 it must have"), fmt.Sprintf("`micro-new install %s --from %s --sha256 HEX`", req.Name, from))
			}
			a := &catalog.Artifact{URL: from, SHA256: req.FromSHA256}
			if err := in.fetchArtifact(ctx, req.Name, a, staging, out); err != nil {
				return fail("fetch "+from, err, "")
			}
			return out, from, nil
		}
		abs, err := filepath.Abs(from)
		if err != nil {
			return fail("--from", err, "")
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return fail("--from", err, "")
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			return fail("--from", &notRegularError{path: abs, mode: fi.Mode()}, "")
		}
		if fi.IsDir() {
			in.progress.Begin(req.Name, "building "+abs)
			if err := in.goBuild(ctx, abs, ".", out); err != nil {
				return fail("build "+abs, err, "")
			}
			return out, abs, nil
		}
		a := &catalog.Artifact{URL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), SHA256: req.FromSHA256}
		if err := in.fetchArtifact(ctx, req.Name, a, staging, out); err != nil {
			return fail("install from "+abs, err, "")
		}
		return out, abs, nil
	}

	v := req.Version
	if a, ok := v.ArtifactFor(in.platform); ok && (!req.Build || v.Source == nil) {
		if err := in.fetchArtifact(ctx, req.Name, a, staging, out); err != nil {
			fix := ""
			if v.Source != nil {
				fix = fmt.Sprintf("build it from source instead: `micro-new install %s --build`", ref)
			}
			return fail("fetch "+a.URL, err, fix)
		}
		return out, a.URL, nil
	}
	if v.Source == nil {
		return fail("install", fmt.Errorf("version %s has no artifact for %s and no source", v.Version, in.platform),
			fmt.Sprintf("install with `micro-new install %s --from FILE|DIR|URL`", req.Name))
	}
	src := v.Source
	if src.Module == "" && (src.Package == MicroModule || strings.HasPrefix(src.Package, MicroModule+"/")) {
		if in.sourceDir != "" {
			in.progress.Begin(req.Name, "building "+src.Package)
			if err := in.goBuild(ctx, in.sourceDir, src.Package, out); err != nil {
				return fail("build "+src.Package+" in "+in.sourceDir, err, "")
			}
			return out, src.Package, nil
		}
		if in.moduleVersion == "" {
			if in.noSource != nil {
				return fail("build "+src.Package, in.noSource, "")
			}
			return fail("build "+src.Package, errors.New("it is a package of "+MicroModule+", and micro-new runs outside a checkout of it and is not a released build"),
				"run micro-new inside a checkout of "+MicroModule+", or set MICRO_SOURCE_DIR to one")
		}
		src = &catalog.Source{Module: MicroModule + "@" + in.moduleVersion, Package: src.Package}
	}
	if src.Module == "" {
		return fail("build "+src.Package, errors.New("the catalog gives no module version for a package outside "+MicroModule), "fix the catalog entry: source.module = path@version")
	}
	in.progress.Begin(req.Name, "building "+src.String())
	if err := in.goInstall(ctx, src, staging, out); err != nil {
		return fail("build "+src.String(), err, "")
	}
	return out, src.String(), nil
}

// fetchArtifact downloads or copies an artifact, checks its sha256, and
// leaves the plugin binary at out: the artifact itself, or the binary taken
// out of the archive.
func (in *Installer) fetchArtifact(ctx context.Context, name string, a *catalog.Artifact, staging, out string) error {
	u, err := url.Parse(a.URL)
	if err != nil {
		return err
	}
	format := a.ArchiveFormat()
	download := filepath.Join(staging, "download")
	if format == catalog.FormatBinary {
		download = out
	}
	in.progress.Begin(name, "fetching "+a.URL)
	var body io.ReadCloser
	size := int64(-1)
	switch u.Scheme {
	case "file":
		f, err := openRegular(filepath.FromSlash(u.Path))
		if err != nil {
			return err
		}
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		body = f
	case "http", "https":
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, a.URL, nil)
		if err != nil {
			return err
		}
		resp, err := in.client.Do(req)
		if err != nil {
			return ExplainNetError(a.URL, err, in.timeouts)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("GET %s: %s", a.URL, resp.Status)
		}
		size = resp.ContentLength
		sr := newStallReader(resp.Body, in.timeouts.Idle, cancel)
		defer sr.stop()
		body = struct {
			io.Reader
			io.Closer
		}{sr, resp.Body}
	default:
		return fmt.Errorf("URL scheme %q: want https, http or file", u.Scheme)
	}
	defer body.Close()
	if size > in.limits.MaxTotalSize {
		return fmt.Errorf("%s is %d bytes, more than the limit of %d", a.URL, size, in.limits.MaxTotalSize)
	}

	f, err := os.OpenFile(download, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	pr := &progressReader{r: io.LimitReader(body, in.limits.MaxTotalSize+1), total: size, name: name, p: in.progress}
	n, err := io.Copy(io.MultiWriter(f, h), pr)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errStalled) {
		return &TimeoutError{URL: a.URL, Err: err, Limit: in.timeouts, Stall: true}
	}
	if err != nil {
		if ctx.Err() == nil && u.Scheme != "file" {
			return ExplainNetError(a.URL, err, in.timeouts)
		}
		return err
	}
	if n > in.limits.MaxTotalSize {
		return fmt.Errorf("%s is more than the limit of %d bytes", a.URL, in.limits.MaxTotalSize)
	}
	if size != n {
		in.progress.Transfer(name, n, n) // the size was unknown until now
	}
	got := hex.EncodeToString(h.Sum(nil))
	if a.SHA256 != "" && got != a.SHA256 {
		return fmt.Errorf("sha256 of %s is %s, want %s: the artifact is not the one the catalog lists", a.URL, got, a.SHA256)
	}
	if format == catalog.FormatBinary {
		return nil
	}

	in.progress.Begin(name, "extracting "+format)
	exdir := filepath.Join(staging, "extract")
	if err := os.Mkdir(exdir, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(exdir)
	if err != nil {
		return err
	}
	defer root.Close()
	af, err := os.Open(download)
	if err != nil {
		return err
	}
	defer af.Close()
	switch format {
	case catalog.FormatTarGz:
		err = archive.ExtractTarGz(root, af, in.limits)
	case catalog.FormatZip:
		err = archive.ExtractZip(root, af, n, in.limits)
	default:
		err = fmt.Errorf("unknown artifact format %q", format)
	}
	if err != nil {
		return err
	}
	member := a.Path
	if member == "" {
		member, err = findBinary(root, path.Base(filepath.ToSlash(out)))
		if err != nil {
			return err
		}
	}
	src, err := root.Open(member) // follows only links that stay inside
	if err != nil {
		return fmt.Errorf("the archive's binary %s: %w", member, err)
	}
	defer src.Close()
	if fi, err := src.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("the archive's binary %s is not a regular file", member)
	}
	return createFrom(out, src, 0o700)
}

// findBinary finds the one entry of the extracted archive named like the
// plugin binary.
func findBinary(root *os.Root, base string) (string, error) {
	var found []string
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && path.Base(p) == base {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("the archive holds no file named %s", base)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("the archive holds %d files named %s (%s): the catalog must say which, in the artifact's path", len(found), base, strings.Join(found, ", "))
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	return createFrom(to, src, 0o755)
}

// createFrom creates the file path, which must not exist, with perm and
// the content of src.
func createFrom(path string, src io.Reader, perm os.FileMode) error {
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
