package build

import (
	"io/fs"
	"syscall"
)

// statID returns what identifies a file's version beyond its size and
// modification time: device, inode and change time.
func statID(fi fs.FileInfo) (dev, ino uint64, ctime int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino, st.Ctimespec.Nano()
	}
	return 0, 0, 0
}
