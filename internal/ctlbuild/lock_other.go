//go:build !unix

package ctlbuild

import (
	"context"
	"errors"
)

// Lock is not available here: the builds run on Unix-like systems only.
func Lock(context.Context, string, func()) (func(), error) {
	return nil, errors.New("file locks need a Unix-like system")
}
