//go:build !unix

package harness

import (
	"context"
	"errors"
	"io"
)

func lockFile(context.Context, string, io.Writer) (func(), error) {
	return nil, errors.New("the e2e harness runs on Unix-like systems only")
}
