package analyze

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

// Fail-closed behaviour end to end (issue 7): `extmetrics analyze` against
// the real devserver over HTTPS.

func decodeReport(t *testing.T, stdout string) analysis.Report {
	t.Helper()
	var rep analysis.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout)
	}
	return rep
}

// Two series match app=web: the primary's (0.53, passes) and the canary's
// (12, max 5). Taking the first silently would pass the canary.
func TestAnalyzeAmbiguousFailsByDefault(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	for track, v := range map[string]string{"primary": "0.53", "canary": "12"} {
		if err := s.SetSeries("ci", "errors", map[string]string{"app": "web", "track": track}, v); err != nil {
			t.Fatal(err)
		}
	}
	file := writeObjects(t, s, "5")

	code, stdout, stderr := execute(t, "", "-f", file, "--interval", "1ms")
	if code != 1 || !strings.Contains(stdout, "Failed") || !strings.Contains(stdout, "ambiguous") ||
		!strings.Contains(stdout, "2 items matched") {
		t.Fatalf("default: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "kind=ambiguous") && !strings.Contains(stderr, "ambiguous") {
		t.Errorf("progress does not name the ambiguity:\n%s", stderr)
	}

	code, stdout, stderr = execute(t, "", "-f", file, "--once", "-o", "json", "-q")
	rep := decodeReport(t, stdout)
	c := rep.Canaries[0].Metrics[0].Checks[0]
	if code != 1 || c.Passed || c.ErrorKind != "ambiguous" || c.HasValue ||
		!strings.Contains(c.Message, "{track=primary}=530m") || !strings.Contains(c.Message, "{track=canary}=12") ||
		!strings.Contains(c.Message, "narrow the labelSelector") || !strings.Contains(c.Message, "aggregate=") {
		t.Fatalf("once: exit %d check %+v\nstderr:\n%s", code, c, stderr)
	}

	code, stdout, _ = execute(t, "", "-f", file, "--once")
	if code != 1 || !strings.Contains(stdout, "✗ ambiguous: ") {
		t.Fatalf("once text: exit %d\n%s", code, stdout)
	}

	// The explicit opt-out is Flagger's behaviour: the first item (0.53) passes.
	code, stdout, stderr = execute(t, "", "-f", file, "--interval", "1ms", "--multi-item=first", "-o", "json")
	rep = decodeReport(t, stdout)
	m := rep.Canaries[0].Metrics[0]
	if code != 0 || rep.Canaries[0].Verdict != analysis.Succeeded || m.Checks[0].Value != 0.53 || m.Checks[0].Matched != 2 {
		t.Fatalf("--multi-item=first: exit %d %+v\nstderr:\n%s", code, m, stderr)
	}

	code, _, stderr = execute(t, "", "-f", file, "--multi-item=sum")
	if code != 2 || !strings.Contains(stderr, "--multi-item") {
		t.Fatalf("--multi-item=sum: exit %d\n%s", code, stderr)
	}
}
