package cmdutil

import (
	"errors"
	"fmt"
	"testing"
)

func TestCode(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{base, ExitFailure},
		{Usage(base), ExitUsage},
		{Usagef("bad %s", "flag"), ExitUsage},
		{Failure(base), ExitFailure},
		{fmt.Errorf("wrapped: %w", Usage(base)), ExitUsage},
		{Silent(3), 3},
	}
	for _, c := range cases {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if !errors.Is(Usage(base), base) {
		t.Error("Usage does not unwrap to its error")
	}
	if Silent(2).Error() != "exit 2" {
		t.Errorf("Silent message %q", Silent(2).Error())
	}
}
