//go:build !unix

package loadtest

import "time"

func selfCPU() time.Duration { return 0 }
