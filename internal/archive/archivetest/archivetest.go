// Package archivetest builds tar.gz and zip archives for tests, hostile ones
// included.
package archivetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"strings"
	"testing"
)

// Entry is one entry of an archive.
type Entry struct {
	Name     string
	Type     byte // tar type flag
	Body     string
	Size     int64 // bytes of zeros, when Body is empty
	Linkname string
	Mode     int64
}

// TarGz builds a tar.gz archive.
func TarGz(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.Name, Typeflag: typ, Linkname: e.Linkname, Mode: mode, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Body)) + e.Size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.Body))
			tw.Write(make([]byte, e.Size))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// Zip builds a zip archive. Type tar.TypeSymlink makes a symbolic link,
// tar.TypeChar a device, tar.TypeDir a directory.
func Zip(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate}
		mode := fs.FileMode(e.Mode)
		if mode == 0 {
			mode = 0o644
		}
		body := e.Body
		switch e.Type {
		case tar.TypeSymlink:
			mode |= fs.ModeSymlink
			body = e.Linkname
		case tar.TypeChar:
			mode |= fs.ModeDevice | fs.ModeCharDevice
		case tar.TypeFifo:
			mode |= fs.ModeNamedPipe
		case tar.TypeDir:
			mode |= fs.ModeDir
			h.Name = strings.TrimSuffix(h.Name, "/") + "/"
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
		w.Write(make([]byte, e.Size))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
