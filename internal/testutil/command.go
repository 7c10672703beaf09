package testutil

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"
)

// Command is a cobra command (a server: devserver, gate) running in the
// background of a test.
type Command struct {
	// Line is the first line the command printed on stdout (its start-up
	// line).
	Line string
	// Stderr is everything it printed on stderr (its logs).
	Stderr *Buffer

	cancel context.CancelFunc
	exited chan struct{} // closed when ExecuteContext returned, with err
	err    error
}

// Runnable is what StartCommand runs: a *cobra.Command (its arguments
// already set, and SilenceUsage). An interface, so that this package needs
// no cobra in the nested modules that import it.
type Runnable interface {
	Name() string
	SetOut(io.Writer)
	SetErr(io.Writer)
	ExecuteContext(context.Context) error
}

// StartCommand runs cmd in the background, its stdout piped and its stderr
// in c.Stderr, and waits up to 30 s for its first stdout line; the test
// fails when the command ends before printing one or prints none in time.
// When the test ends the command is stopped.
func StartCommand(tb testing.TB, cmd Runnable) *Command {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	c := &Command{Stderr: &Buffer{}, cancel: cancel, exited: make(chan struct{})}
	cmd.SetOut(pw)
	cmd.SetErr(c.Stderr)
	go func() {
		c.err = cmd.ExecuteContext(ctx)
		pw.Close()
		close(c.exited)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			tb.Errorf("command %s did not stop", cmd.Name())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			tb.Fatalf("command %s ended without a line: %v\n%s", cmd.Name(), c.Stop(), c.Stderr)
		}
		c.Line = line
	case <-time.After(30 * time.Second):
		tb.Fatalf("command %s printed no line within 30s\n%s", cmd.Name(), c.Stderr)
	}
	return c
}

// Stop cancels the command's context, waits for it to end and returns what
// it ended with (the same on every call).
func (c *Command) Stop() error {
	c.cancel()
	<-c.exited
	return c.err
}
