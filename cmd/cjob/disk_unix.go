//go:build !windows

package main

import "syscall"

// freeGiB is the free space of the filesystem holding path, when it can be
// read (a local engine's data root).
func freeGiB(path string) (float64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, false
	}
	return float64(st.Bavail) * float64(st.Bsize) / (1 << 30), true
}
