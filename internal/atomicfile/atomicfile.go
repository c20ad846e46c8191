// Package atomicfile replaces a file whole or not at all: the new contents
// go to a temporary file in the same directory, which is synced, closed and
// renamed over the path, and the directory is synced, so that after a crash
// the path holds either its old contents or all of the new.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with data, created with mode.
func Write(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return commit(tmp, path, data, mode)
}

// tempFile is what commit needs of the temporary file (an *os.File).
type tempFile interface {
	io.Writer
	Chmod(os.FileMode) error
	Sync() error
	Close() error
	Name() string
}

// commit fills tmp with data, syncs and closes it, and renames it to path
// only when every one of those steps succeeded; tmp is removed otherwise.
func commit(tmp tempFile, path string, data []byte, mode os.FileMode) error {
	defer os.Remove(tmp.Name())
	err := tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = SyncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SyncDir makes the entries created or renamed in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
