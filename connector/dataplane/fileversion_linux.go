package dataplane

import (
	"io/fs"
	"syscall"
)

// versionOf reads a file's version from its stat: device, inode, size,
// modification and change times. Every write, truncate or rename onto the
// path changes at least one of them, and the change time cannot be set back
// from user space.
func versionOf(fi fs.FileInfo) (fileVersion, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileVersion{}, false
	}
	return fileVersion{
		dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, true
}
