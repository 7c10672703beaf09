package testutil

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestStartCommand(t *testing.T) {
	cmd := &cobra.Command{Use: "srv", RunE: func(c *cobra.Command, _ []string) error {
		fmt.Fprintln(c.OutOrStdout(), "listening on x")
		fmt.Fprintln(c.OutOrStdout(), "more")
		fmt.Fprintln(c.ErrOrStderr(), "log line")
		<-c.Context().Done()
		return c.Context().Err()
	}}
	cmd.SetArgs(nil)
	c := StartCommand(t, cmd)
	if c.Line != "listening on x" {
		t.Fatalf("line %q", c.Line)
	}
	Eventually(t, 5*time.Second, "the log line", func() bool { return c.Stderr.String() == "log line\n" })
	if err := c.Stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("second Stop: %v", err)
	}
}
