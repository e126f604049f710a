package converge

import (
	"errors"
	"syscall"
)

func isEACCES(err error) bool { return errors.Is(err, syscall.EACCES) }
