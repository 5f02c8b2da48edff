// Package archive extracts tar.gz and zip archives through an os.Root, for
// plugin artifacts that come from outside.
//
// Every entry name is checked before anything is written, and every write goes
// through the os.Root, so that no entry can reach outside the destination:
// names with "..", absolute names, symbolic links that point outside the
// destination, hard links to anything but a regular file inside it, and device
// files, FIFOs and sockets are refused. Sizes are capped against decompression
// bombs; the bytes are counted as they are read, and the sizes archive headers
// claim are not trusted.
package archive

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Limits caps what an archive may hold.
type Limits struct {
	MaxFileSize  int64 // bytes of one file
	MaxTotalSize int64 // bytes of all files together
	MaxEntries   int   // entries of every type
}

// DefaultLimits are generous for a plugin binary and its companions.
func DefaultLimits() Limits {
	return Limits{MaxFileSize: 512 << 20, MaxTotalSize: 1 << 30, MaxEntries: 10000}
}

// Error says why an entry was refused.
type Error struct {
	Entry  string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("archive entry %q: %s", e.Entry, e.Reason) }

// ErrTooLarge is matched (errors.Is) by an error for an archive over its Limits.
var ErrTooLarge = errors.New("archive too large")

type limitError struct {
	entry string
	what  string
}

func (e *limitError) Error() string {
	return fmt.Sprintf("archive entry %q: %s: refused as a possible decompression bomb", e.entry, e.what)
}
func (e *limitError) Is(target error) bool { return target == ErrTooLarge }

type extractor struct {
	root    *os.Root
	lim     Limits
	total   int64
	entries int
}

// cleanName checks an entry name and returns it in clean, slash-separated form.
func cleanName(name string) (string, error) {
	bad := func(reason string) (string, error) { return "", &Error{Entry: name, Reason: reason} }
	switch {
	case name == "":
		return bad("empty name")
	case strings.ContainsRune(name, 0):
		return bad("NUL in name")
	case strings.Contains(name, `\`):
		return bad("backslash in name")
	case strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':'):
		return bad("absolute path")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return bad(`".." in path`)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil // the root itself
	}
	if !fs.ValidPath(c) {
		return bad("invalid path")
	}
	return c, nil
}

func (x *extractor) count(name string) error {
	x.entries++
	if x.entries > x.lim.MaxEntries {
		return &limitError{entry: name, what: fmt.Sprintf("more than %d entries", x.lim.MaxEntries)}
	}
	return nil
}

func (x *extractor) mkdirParent(name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return &Error{Entry: name, Reason: err.Error()}
		}
	}
	return nil
}

func (x *extractor) dir(name string) error {
	if name == "" {
		return nil
	}
	if err := x.root.MkdirAll(name, 0o755); err != nil {
		return &Error{Entry: name, Reason: err.Error()}
	}
	return nil
}

// file writes a regular file, counting the bytes as they come.
func (x *extractor) file(name string, mode fs.FileMode, r io.Reader) error {
	if name == "" {
		return &Error{Entry: name, Reason: "a file where the root is"}
	}
	if err := x.mkdirParent(name); err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &Error{Entry: name, Reason: "listed twice"}
		}
		return &Error{Entry: name, Reason: err.Error()}
	}
	allowed := min(x.lim.MaxFileSize, x.lim.MaxTotalSize-x.total)
	n, err := io.Copy(f, io.LimitReader(r, allowed+1))
	x.total += n
	if err == nil {
		err = f.Chmod(perm) // the exact mode, whatever the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if n > allowed {
		if n > x.lim.MaxFileSize {
			return &limitError{entry: name, what: fmt.Sprintf("larger than %d bytes", x.lim.MaxFileSize)}
		}
		return &limitError{entry: name, what: fmt.Sprintf("the archive holds more than %d bytes", x.lim.MaxTotalSize)}
	}
	if err != nil {
		return &Error{Entry: name, Reason: err.Error()}
	}
	return nil
}

// symlink creates a symbolic link whose target must stay inside the root.
func (x *extractor) symlink(name, target string) error {
	if name == "" {
		return &Error{Entry: name, Reason: "a link where the root is"}
	}
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) || strings.Contains(target, `\`) || (len(target) >= 2 && target[1] == ':') {
		return &Error{Entry: name, Reason: fmt.Sprintf("symbolic link to %q points outside the archive", target)}
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return &Error{Entry: name, Reason: fmt.Sprintf("symbolic link to %q points outside the archive", target)}
	}
	if err := x.mkdirParent(name); err != nil {
		return err
	}
	if err := x.root.Symlink(target, name); err != nil {
		return &Error{Entry: name, Reason: err.Error()}
	}
	return nil
}

// hardlink links name to an earlier regular file of the archive.
func (x *extractor) hardlink(name, target string) error {
	t, err := cleanName(target)
	if err != nil || t == "" {
		return &Error{Entry: name, Reason: fmt.Sprintf("hard link to %q points outside the archive", target)}
	}
	fi, err := x.root.Lstat(t)
	if err != nil || !fi.Mode().IsRegular() {
		return &Error{Entry: name, Reason: fmt.Sprintf("hard link to %q: not a regular file of the archive", target)}
	}
	if err := x.mkdirParent(name); err != nil {
		return err
	}
	if err := x.root.Link(t, name); err != nil {
		return &Error{Entry: name, Reason: err.Error()}
	}
	return nil
}

// ExtractTarGz extracts a gzip-compressed tar stream into root.
func ExtractTarGz(root *os.Root, r io.Reader, lim Limits) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer zr.Close()
	return ExtractTar(root, zr, lim)
}

// ExtractTar extracts an uncompressed tar stream into root.
func ExtractTar(root *os.Root, r io.Reader, lim Limits) error {
	x := &extractor{root: root, lim: lim}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if err := x.count(h.Name); err != nil {
			return err
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			err = x.file(name, fs.FileMode(h.Mode), tr)
		case tar.TypeDir:
			err = x.dir(name)
		case tar.TypeSymlink:
			err = x.symlink(name, h.Linkname)
		case tar.TypeLink:
			err = x.hardlink(name, h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			err = &Error{Entry: h.Name, Reason: "device file"}
		case tar.TypeFifo:
			err = &Error{Entry: h.Name, Reason: "FIFO"}
		default:
			err = &Error{Entry: h.Name, Reason: fmt.Sprintf("unsupported entry type %q", h.Typeflag)}
		}
		if err != nil {
			return err
		}
	}
}

// ExtractZip extracts a zip archive into root.
func ExtractZip(root *os.Root, r io.ReaderAt, size int64, lim Limits) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	x := &extractor{root: root, lim: lim}
	for _, f := range zr.File {
		if err := x.count(f.Name); err != nil {
			return err
		}
		name, err := cleanName(f.Name)
		if err != nil {
			return err
		}
		mode := f.Mode()
		switch {
		case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			err = &Error{Entry: f.Name, Reason: "device file"}
		case mode&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
			err = &Error{Entry: f.Name, Reason: "not a regular file, directory or link"}
		case mode&fs.ModeSymlink != 0:
			var target []byte
			target, err = readSmall(f)
			if err == nil {
				err = x.symlink(name, string(target))
			}
		case mode.IsDir():
			err = x.dir(name)
		default:
			// The header's size is a hint only: the bytes are counted as read.
			if f.UncompressedSize64 > uint64(lim.MaxFileSize) {
				return &limitError{entry: f.Name, what: fmt.Sprintf("larger than %d bytes", lim.MaxFileSize)}
			}
			var rc io.ReadCloser
			rc, err = f.Open()
			if err == nil {
				err = x.file(name, mode, rc)
				rc.Close()
			}
		}
		if err != nil {
			var ae *Error
			var le *limitError
			if errors.As(err, &ae) || errors.As(err, &le) {
				return err
			}
			return &Error{Entry: f.Name, Reason: err.Error()}
		}
	}
	return nil
}

func readSmall(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4097))
	if err != nil {
		return nil, err
	}
	if len(b) > 4096 {
		return nil, errors.New("symbolic link target longer than 4096 bytes")
	}
	return b, nil
}
