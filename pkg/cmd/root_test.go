package cmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "extmetrics ") {
		t.Fatalf("version: code %d, out %q", code, out)
	}
	code, out, _ = run(t, "version", "-o", "json")
	var info map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info["goVersion"] == "" {
		t.Fatalf("version -o json: code %d, out %q", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"version", "--no-such-flag"},
		{"version", "extra-arg"},
		{"version", "-o", "xml"},
	} {
		code, _, errOut := run(t, args...)
		if code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, cmdutil.ExitUsage, errOut)
		}
		if !strings.Contains(errOut, "Error:") {
			t.Errorf("%v: stderr %q does not say what was wrong", args, errOut)
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	root := NewRoot()
	for _, c := range root.Commands() {
		if c.Short == "" || strings.Contains(c.Short, "not implemented") {
			t.Errorf("command %q has no real short help: %q", c.Name(), c.Short)
		}
	}
}
