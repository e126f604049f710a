package watch

import "syscall"

// Filesystem magic numbers (statfs f_type) on which inotify sees only the
// changes made through this machine's kernel.
var remoteTypes = map[int64]string{
	0x65735546: "FUSE (sshfs?)",
	0x6969:     "NFS",
	0xFF534D42: "SMB",
	0xFE534D42: "SMB",
	0x01021997: "9p (a VM's shared folder)",
	0x6a656a63: "virtiofs (a VM's shared folder)",
}

// remoteFS names the filesystem holding path when it is one of those.
func remoteFS(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return ""
	}
	return remoteTypes[int64(st.Type)]
}
