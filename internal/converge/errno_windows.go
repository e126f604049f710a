package converge

import (
	"errors"
	"syscall"
)

// wsaeaddrinuse is Windows' "address already in use" (WSAEADDRINUSE).
const wsaeaddrinuse = syscall.Errno(10048)

func isAddrInUse(err error) bool {
	return errors.Is(err, wsaeaddrinuse) || errors.Is(err, syscall.EADDRINUSE)
}
