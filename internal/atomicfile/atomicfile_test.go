package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// failingFile is a real temporary file whose Write or Sync fails on demand.
type failingFile struct {
	*os.File
	writeErr, syncErr error
}

func (f failingFile) Write(p []byte) (int, error) {
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	return f.File.Write(p)
}

func (f failingFile) Sync() error {
	if f.syncErr != nil {
		return f.syncErr
	}
	return f.File.Sync()
}

// TestCommitFailureLeavesNoFile: a failed write or sync is reported and
// nothing is renamed into place (the embedded store's first version of this
// shadowed err and renamed a truncated key file).
func TestCommitFailureLeavesNoFile(t *testing.T) {
	boom := errors.New("disk full")
	for name, f := range map[string]func(*os.File) tempFile{
		"write": func(f *os.File) tempFile { return failingFile{File: f, writeErr: boom} },
		"sync":  func(f *os.File) tempFile { return failingFile{File: f, syncErr: boom} },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "checkpoint.key")
			tmp, err := os.CreateTemp(dir, "checkpoint.key.tmp-*")
			if err != nil {
				t.Fatal(err)
			}
			err = commit(f(tmp), path, []byte("secret\n"), 0o600)
			if !errors.Is(err, boom) {
				t.Fatalf("commit = %v, want %v", err, boom)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists after a failed %s (stat: %v)", path, name, err)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestWriteWritesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.key")
	if err := Write(path, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "secret\n" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}
