package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Info describes one object of a Source.
type Info struct {
	Size    int64
	ModTime time.Time
	// ETag is a strong entity tag, quoted ("..."), that changes whenever the
	// bytes may have changed. Empty when the source cannot tell.
	ETag        string
	ContentType string
}

// Source is what a dataset points at. Path is "" for the dataset itself, or a
// slash-separated relative path inside it (a file of a directory dataset).
// Implementations return an error wrapping ErrNotFound for a path that names
// nothing, and ErrIsDirectory when Stat is asked about a directory.
//
// An object store fits as HEAD/GET-with-range on a key; a database query as a
// snapshot whose Info names its size and version.
type Source interface {
	// Stat describes the object at path without reading it.
	Stat(ctx context.Context, path string) (Info, error)
	// Open returns a reader of exactly r.Length bytes from r.Start. Closing it
	// releases the source; the reader must stop promptly once ctx is done.
	Open(ctx context.Context, path string, r ByteRange) (io.ReadCloser, error)
}

// Lister is implemented by sources that hold several objects (a directory);
// a GET on the dataset's root returns the listing.
type Lister interface {
	List(ctx context.Context) ([]Entry, error)
}

// Entry is one object of a Lister.
type Entry struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	ETag string `json:"etag,omitempty"`
}

// ErrIsDirectory: Stat was asked about a directory; list it or name a file in it.
var ErrIsDirectory = errors.New("dataplane: path is a directory")

// FileSource is a dataset that is one local file.
type FileSource struct {
	Path        string
	ContentType string
}

// Stat implements Source; only the empty path exists.
func (s FileSource) Stat(ctx context.Context, p string) (Info, error) {
	if p != "" {
		return Info{}, fmt.Errorf("%w: %q: a file dataset has no sub-paths", ErrNotFound, p)
	}
	return statFile(s.Path, s.ContentType)
}

// Open implements Source.
func (s FileSource) Open(ctx context.Context, p string, r ByteRange) (io.ReadCloser, error) {
	if p != "" {
		return nil, fmt.Errorf("%w: %q: a file dataset has no sub-paths", ErrNotFound, p)
	}
	return openFile(s.Path, r)
}

// DirSource is a dataset that is a local directory; each regular file is
// served at its relative path. Symbolic links and dot-files are not served.
type DirSource struct {
	Root string
}

func (s DirSource) resolve(p string) (string, error) {
	if p == "" {
		return s.Root, nil
	}
	clean := path.Clean("/" + p)[1:]
	if clean != p || !fs.ValidPath(clean) {
		return "", fmt.Errorf("%w: %q: path must be clean and relative", ErrNotFound, p)
	}
	for _, el := range strings.Split(clean, "/") {
		if strings.HasPrefix(el, ".") {
			return "", fmt.Errorf("%w: %q: hidden paths are not served", ErrNotFound, p)
		}
	}
	full := filepath.Join(s.Root, filepath.FromSlash(clean))
	st, err := os.Lstat(full)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrNotFound, p)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return "", fmt.Errorf("%w: %q: symbolic links are not served", ErrNotFound, p)
	}
	return full, nil
}

// Stat implements Source.
func (s DirSource) Stat(ctx context.Context, p string) (Info, error) {
	full, err := s.resolve(p)
	if err != nil {
		return Info{}, err
	}
	return statFile(full, "")
}

// Open implements Source.
func (s DirSource) Open(ctx context.Context, p string, r ByteRange) (io.ReadCloser, error) {
	full, err := s.resolve(p)
	if err != nil {
		return nil, err
	}
	return openFile(full, r)
}

// List implements Lister: every regular, non-hidden file under Root.
func (s DirSource) List(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := filepath.WalkDir(s.Root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if full != s.Root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Root, full)
		out = append(out, Entry{Path: filepath.ToSlash(rel), Size: fi.Size(), ETag: fileETag(fi)})
		return nil
	})
	return out, err
}

func statFile(full, contentType string) (Info, error) {
	fi, err := os.Stat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if err != nil {
		return Info{}, err
	}
	if fi.IsDir() {
		return Info{}, ErrIsDirectory
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: %s is not a regular file", ErrNotFound, fi.Name())
	}
	if contentType == "" {
		contentType = mime.TypeByExtension(filepath.Ext(full))
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return fileInfo(fi, contentType), nil
}

func fileInfo(fi fs.FileInfo, contentType string) Info {
	return Info{Size: fi.Size(), ModTime: fi.ModTime(), ETag: fileETag(fi), ContentType: contentType}
}

// openLocal opens the file behind path p when src is a FileSource or a
// DirSource (not a type wrapping one, which may change what Open returns),
// with the descriptor's own stat; ok is false for every other source.
func openLocal(src Source, p string) (f *os.File, fi fs.FileInfo, ok bool, err error) {
	var full string
	switch s := src.(type) {
	case FileSource:
		if p != "" {
			return nil, nil, true, fmt.Errorf("%w: %q: a file dataset has no sub-paths", ErrNotFound, p)
		}
		full = s.Path
	case DirSource:
		if full, err = s.resolve(p); err != nil {
			return nil, nil, true, err
		}
	default:
		return nil, nil, false, nil
	}
	f, fi, err = openRegular(full)
	return f, fi, true, err
}

// openRegular opens the regular file at full with its descriptor's stat; a
// path that names nothing, or no regular file, is ErrNotFound.
func openRegular(full string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: %s is not a regular file", ErrNotFound, fi.Name())
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// fileETag derives a strong tag from size and modification time in
// nanoseconds: a rewrite of the file changes it.
func fileETag(fi fs.FileInfo) string {
	return `"` + strconv.FormatInt(fi.Size(), 36) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 36) + `"`
}

type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s sectionFile) Close() error { return s.f.Close() }

func openFile(full string, r ByteRange) (io.ReadCloser, error) {
	f, err := os.Open(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return sectionFile{SectionReader: io.NewSectionReader(f, r.Start, r.Length), f: f}, nil
}
