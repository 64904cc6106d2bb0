//go:build !unix

package loadgen

import (
	"errors"
	"time"
)

func selfCPU() (time.Duration, error) {
	return 0, errors.New("process CPU time is measured on Unix only")
}
