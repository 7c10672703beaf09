package cmd

import (
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
)

// analyze keeps refusing datadog templates, and says how to move them.
func TestAnalyzeHintsAtMigrateDatadog(t *testing.T) {
	code, _, errOut := run(t, "analyze", "-f", "../../examples/datadog-migration/before", "--server", "https://127.0.0.1:1")
	if code != cmdutil.ExitUsage {
		t.Fatalf("exit %d, want %d: %s", code, cmdutil.ExitUsage, errOut)
	}
	if !strings.Contains(errOut, `spec.provider.type "datadog" is not supported`) || !strings.Contains(errOut, `run "extmetrics migrate datadog"`) {
		t.Errorf("stderr:\n%s", errOut)
	}
}
