package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent use: give it to a logger or
// a server and read it from the test.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Reset empties the buffer.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

// Condition is what Eventually polls: a plain bool, or a bool with a
// detail for the failure message (e.g. the last state seen).
type Condition interface {
	func() bool | func() (bool, string)
}

// Eventually polls cond every 10ms until it holds, and fails the test after
// timeout, naming what it waited for (and cond's last detail).
func Eventually[C Condition](tb testing.TB, timeout time.Duration, what string, cond C) {
	tb.Helper()
	check := func() (bool, string) {
		switch c := any(cond).(type) {
		case func() bool:
			return c(), ""
		case func() (bool, string):
			return c()
		}
		panic("testutil: unreachable")
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if detail != "" {
				what += ": " + detail
			}
			tb.Fatalf("after %s still waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WriteCA writes a PEM CA (e.g. devserver.Server.CAPEM) to ca.crt in a
// temporary directory of tb and returns the path.
func WriteCA(tb testing.TB, pem []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "ca.crt")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		tb.Fatalf("testutil: write CA: %v", err)
	}
	return path
}
