package analyze

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/scenario"
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
	// In this order: the devserver lists series as they were added, and
	// --multi-item=first below must see the primary's first.
	for _, sv := range [][2]string{{"primary", "0.53"}, {"canary", "12"}} {
		if err := s.SetSeries("ci", "errors", map[string]string{"app": "web", "track": sv[0]}, sv[1]); err != nil {
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

// Values an hour old: the query names no maxAge=, so the default bound
// (3 intervals, at least 5m) fails the check; the age is in every output.
func TestAnalyzeStaleFailsByDefault(t *testing.T) {
	s := server(t, "0.5")
	s.SetFault("errors", scenario.Fault{StaleBy: time.Hour})
	file := writeObjects(t, s, "1")
	dir := t.TempDir()
	junit, html := filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.html")

	code, stdout, stderr := execute(t, "", "-f", file, "--interval", "1ms", "-o", "json", "--junit", junit, "--report", html)
	rep := decodeReport(t, stdout)
	c := rep.Canaries[0].Metrics[0].Checks[0]
	if code != 1 || rep.Canaries[0].Verdict != analysis.Failed || c.Passed || c.ErrorKind != "stale" ||
		!ageRE.MatchString(c.Message) || !strings.Contains(c.Message, "maxAge 5m0s") || !strings.Contains(c.Message, "max-age 0 to turn the bound off") {
		t.Fatalf("exit %d check %+v\nstderr:\n%s", code, c, stderr)
	}
	if c.Newest.IsZero() || c.Age < time.Hour || c.Age > time.Hour+time.Minute {
		t.Errorf("newest %v age %v", c.Newest, c.Age)
	}
	if !strings.Contains(stdout, `"age": "1h0m`) || !strings.Contains(stdout, `"newest": "`) {
		t.Errorf("JSON lacks newest/age:\n%s", stdout)
	}
	if !strings.Contains(stderr, "age=1h0m") {
		t.Errorf("progress lacks the age:\n%s", stderr)
	}
	for path, want := range map[string]string{junit: "data age 1h0m", html: `title="newest item `} {
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q: %v", path, want, err)
		}
	}

	// --once shows the age; the query's own maxAge wins over the default.
	code, stdout, _ = execute(t, "", "-f", file, "--once", "-q")
	if code != 1 || !strings.Contains(stdout, "AGE") || !strings.Contains(stdout, "stale") {
		t.Fatalf("once: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr = execute(t, "", "-f", file, "--once", "--max-age", "2h", "-q")
	if code != 0 || !strings.Contains(stdout, "1h0m") || !strings.Contains(stdout, "✓ pass") {
		t.Fatalf("--max-age 2h: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = execute(t, "", "-f", file, "--interval", "1ms", "--max-age", "0", "-q")
	if code != 0 {
		t.Fatalf("--max-age 0: exit %d\n%s\n%s", code, stdout, stderr)
	}
	own := strings.Replace(readFile(t, file), "app={{ target }}", "app={{ target }}&maxAge=3h", 1)
	code, stdout, stderr = execute(t, own, "-f", "-", "--once", "--max-age", "1m", "-q")
	if code != 0 {
		t.Fatalf("query maxAge=3h must win over --max-age 1m: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, bad := range []string{"-1m", "soon"} {
		if code, _, stderr := execute(t, "", "-f", file, "--max-age", bad); code != 2 || !strings.Contains(stderr, "--max-age") {
			t.Errorf("--max-age %s: exit %d %s", bad, code, stderr)
		}
	}
}

var ageRE = regexp.MustCompile(`newest item is 1h0m\d+s old`)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Report destinations are checked before the first query; a write that
// fails afterwards names the file and the verdict.
func TestAnalyzeChecksOutputsFirst(t *testing.T) {
	s := server(t, "0.5")
	file := writeObjects(t, s, "1")
	code, stdout, stderr := execute(t, "", "-f", file, "--interval", "1ms", "--junit", "/nonexistent/dir/j.xml",
		"--json", filepath.Join(t.TempDir(), "r.json"))
	if code != 2 || !strings.Contains(stderr, "--junit /nonexistent/dir/j.xml: directory /nonexistent/dir does not exist") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, " started ") || strings.Contains(stderr, " check ") {
		t.Fatalf("the analysis ran before the output check failed:\n%s", stderr)
	}

	// /dev/full opens fine and fails every write (ENOSPC).
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	code, _, stderr = execute(t, "", "-f", file, "--interval", "1ms", "--report", "/dev/full")
	if code != 1 || !strings.Contains(stderr, "/dev/full") || !strings.Contains(stderr, "the analysis itself finished: ci/web Succeeded") {
		t.Fatalf("write failure: exit %d\n%s", code, stderr)
	}
}

// A `query: |` block (trailing newline) with aggregate=max passes here; real
// Flagger fails every check on the newline and would ignore aggregate=. Every
// output says so, and --flagger-compat=strict fails the check.
func TestAnalyzeFlaggerCompatNotes(t *testing.T) {
	s := server(t, "0.5")
	objects := strings.Replace(readFile(t, writeObjects(t, s, "1")),
		`query: "{{ namespace }}/errors?labelSelector=app={{ target }}"`,
		"query: |\n    {{ namespace }}/errors?labelSelector=app={{ target }}&aggregate=max", 1)
	if !strings.Contains(objects, "query: |") {
		t.Fatal("fixture not rewritten")
	}
	dir := t.TempDir()
	html := filepath.Join(dir, "r.html")

	code, stdout, stderr := execute(t, objects, "-f", "-", "--interval", "1ms", "--report", html)
	if code != 0 || !strings.Contains(stdout, "Flagger compatibility") || !strings.Contains(stdout, "trailing newline") ||
		!strings.Contains(stdout, "invalid control character in URL") || !strings.Contains(stdout, "Flagger ignores aggregate=max") {
		t.Fatalf("text: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if page := readFile(t, html); !strings.Contains(page, "Flagger compatibility:</strong> the query has a trailing newline") {
		t.Errorf("HTML lacks the note")
	}
	code, stdout, _ = execute(t, objects, "-f", "-", "--once", "-q")
	if code != 0 || !strings.Contains(stdout, "MetricTemplate ci/error-rate (ci/web, metric error-rate): the query has a trailing newline") {
		t.Fatalf("--once: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = execute(t, objects, "-f", "-", "--once", "-q", "-o", "json")
	// The query's two notes, then the template's with Flagger in a pod
	// (address, Secret token and ca.crt: see TestAnalyzeFlaggerPodNotes).
	m := decodeReport(t, stdout).Canaries[0].Metrics[0]
	var codes []string
	for _, n := range m.FlaggerCompatNotes {
		codes = append(codes, n.Code)
	}
	if code != 0 || len(m.FlaggerCompat) != 4 || !slices.Equal(codes, []string{flagger.CompatQueryControlChar, flagger.CompatIgnoresAggregate,
		flagger.CompatPodSecretTokenIgnored, flagger.CompatPodSecretCAIgnored}) {
		t.Fatalf("JSON: exit %d codes %q %+v", code, codes, m)
	}

	code, stdout, stderr = execute(t, objects, "-f", "-", "--once", "-q", "-o", "json", "--flagger-compat=strict")
	c := decodeReport(t, stdout).Canaries[0].Metrics[0].Checks[0]
	if code != 1 || c.Passed || c.ErrorKind != "flagger-compat" || !strings.Contains(c.Message, "trailing newline") {
		t.Fatalf("strict: exit %d %+v\n%s", code, c, stderr)
	}
	if code, _, stderr := execute(t, objects, "-f", "-", "--flagger-compat=loose"); code != 2 || !strings.Contains(stderr, "--flagger-compat") {
		t.Errorf("bad --flagger-compat: exit %d %s", code, stderr)
	}

	// A missing template variable fails here before any query (exit 2) and,
	// as Flagger's RenderQuery also uses missingkey=error, at every check
	// in Flagger: the message says so.
	broken := strings.Replace(objects, "app={{ target }}", "app={{ variables.app }}", 1)
	code, _, stderr = execute(t, broken, "-f", "-", "--once")
	if code != 2 || !strings.Contains(stderr, "Flagger fails the same way, but at run time") {
		t.Fatalf("missing variable: exit %d\n%s", code, stderr)
	}
}

// A template naming an address that is not where the server runs is
// pointed at it with --address-override, no YAML edited.
func TestAnalyzeAddressOverride(t *testing.T) {
	s := server(t, "0.5")
	objects := strings.Replace(readFile(t, writeObjects(t, s, "1")), s.URL(), "https://127.0.0.1:1", 1)
	host := strings.TrimPrefix(s.URL(), "https://")
	code, stdout, stderr := execute(t, objects, "-f", "-", "--once", "-q")
	if code != 1 || !strings.Contains(stdout, "unavailable") {
		t.Fatalf("without override: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = execute(t, objects, "-f", "-", "--once", "-q", "--address-override", "127.0.0.1:1="+host)
	if code != 0 || !strings.Contains(stdout, "✓ pass") {
		t.Fatalf("with override: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := execute(t, objects, "-f", "-", "--address-override", "nonsense"); code != 2 || !strings.Contains(stderr, "OLD=NEW") {
		t.Fatalf("bad override: exit %d %s", code, stderr)
	}
}

// Small CLI edges: a positional file gets a hint to use -f; -o takes the
// same words as query/list/status (table, yaml).
func TestAnalyzeCLIEdges(t *testing.T) {
	s := server(t, "0.5")
	file := writeObjects(t, s, "1")
	if code, _, stderr := execute(t, "", file); code != 2 || !strings.Contains(stderr, "give files and directories with -f (extmetrics analyze -f "+file+")") {
		t.Errorf("positional: exit %d %s", code, stderr)
	}
	code, stdout, _ := execute(t, "", "-f", file, "--once", "-q", "-o", "yaml")
	if code != 0 || !strings.Contains(stdout, "verdict: Succeeded") || !strings.Contains(stdout, "query: ci/errors?labelSelector=app=web") {
		t.Errorf("-o yaml: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := execute(t, "", "-f", file, "--once", "-q", "-o", "table"); code != 0 || !strings.Contains(stdout, "CANARY") {
		t.Errorf("-o table: exit %d\n%s", code, stdout)
	}
}
