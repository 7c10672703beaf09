package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/examples"
	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/analyze"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// expected is what each example's run looks like beyond its verdict
// (documented in its README.md).
var expected = map[string]struct {
	runs, steps, failedChecks int
}{
	"prometheus-adapter": {runs: 5, steps: 5, failedChecks: 0},
	"datadog":            {runs: 5, steps: 3, failedChecks: 2},
	"keda":               {runs: 5, steps: 5, failedChecks: 0},
}

// Every example run the way its README says: `extmetrics devserver` with
// the example's profile, scenario and token, then `extmetrics analyze -f
// examples/<dir> --ca-file CA` (with the templates' address pointed at the
// test's server, which listens on a free port) must reach the documented
// verdict, exit code included.
func TestExamplesReachTheirVerdicts(t *testing.T) {
	if len(examples.Examples) != len(expected) {
		t.Fatalf("%d examples, %d expectations", len(examples.Examples), len(expected))
	}
	for _, ex := range examples.Examples {
		t.Run(ex.Dir, func(t *testing.T) {
			want, ok := expected[ex.Dir]
			if !ok {
				t.Fatalf("no expectation for %s", ex.Dir)
			}
			sc, err := ex.Scenario()
			if err != nil {
				t.Fatal(err)
			}
			token := secretToken(t, ex)
			srv := devservertest.New(t, devserver.Config{
				Profile:  ex.Profile,
				Scenario: sc,
				Tokens:   map[string][]string{token: {devserver.AllNamespaces}},
			})
			dir := copyExample(t, ex, srv.URL())
			ca := filepath.Join(t.TempDir(), "ca.crt")
			if err := os.WriteFile(ca, srv.CAPEM(), 0o600); err != nil {
				t.Fatal(err)
			}

			cmd := analyze.NewCommand()
			var stdout, stderr bytes.Buffer
			cmd.SetArgs([]string{"-f", dir, "--ca-file", ca, "--interval", "10ms", "-o", "json"})
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err = cmd.ExecuteContext(ctx)
			code := cmdutil.Code(err)

			var rep analysis.Report
			if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
				t.Fatalf("exit %d (%v), JSON: %v\nstdout:\n%s\nstderr:\n%s", code, err, jerr, stdout.String(), stderr.String())
			}
			if len(rep.Canaries) != 1 {
				t.Fatalf("%d canaries", len(rep.Canaries))
			}
			c := rep.Canaries[0]
			if got := c.Namespace + "/" + c.Name; got != ex.Canary {
				t.Errorf("canary %s, want %s", got, ex.Canary)
			}
			wantCode := cmdutil.ExitOK
			if ex.Verdict != analysis.Succeeded {
				wantCode = cmdutil.ExitFailure
			}
			if c.Verdict != ex.Verdict || code != wantCode || c.Runs != want.runs || c.Steps != want.steps || c.FailedChecks != want.failedChecks {
				t.Errorf("%s after %d runs, %d steps, %d failed checks, exit %d; want %s after %d runs, %d steps, %d failed checks, exit %d\nreason: %s\nstderr:\n%s",
					c.Verdict, c.Runs, c.Steps, c.FailedChecks, code, ex.Verdict, want.runs, want.steps, want.failedChecks, wantCode, c.Reason, stderr.String())
			}
			// Every failed check is out of range: the examples fail on
			// values, never on a broken query.
			for _, m := range c.Metrics {
				for _, ch := range m.Checks {
					if !ch.Passed && ch.ErrorKind != analysis.KindOutOfRange {
						t.Errorf("%s run %d: %s: %s", m.Name, ch.Run, ch.ErrorKind, ch.Message)
					}
				}
			}
		})
	}
}

// secretToken is the token in the example's Secret (what README's
// `extmetrics devserver --token` gives).
func secretToken(t *testing.T, ex examples.Example) string {
	t.Helper()
	set := parse(t, ex)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	if len(set.Secrets) != 1 {
		t.Fatalf("%d Secrets, want 1", len(set.Secrets))
	}
	tok := string(set.Secrets[0].Data[provider.SecretKeyToken])
	if tok == "" {
		t.Fatal("Secret has no token")
	}
	return tok
}

// parse loads the example's embedded objects (errors are in set.Err).
func parse(t *testing.T, ex examples.Example) *flagger.Set {
	t.Helper()
	files, err := ex.Objects()
	if err != nil {
		t.Fatal(err)
	}
	set := flagger.NewSet(flagger.Options{})
	for _, f := range files {
		set.Parse(f.Path, f.Data)
	}
	return set
}

// copyExample copies the example directory from disk (the files README's
// commands read) to a temporary directory, pointing the templates' address
// at url.
func copyExample(t *testing.T, ex examples.Example, url string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(ex.Dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(ex.Dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "metric-templates.yaml" {
			n = bytes.Count(data, []byte("address: "+ex.Address+"\n"))
			data = bytes.ReplaceAll(data, []byte("address: "+ex.Address+"\n"), []byte("address: "+url+"\n"))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatalf("metric-templates.yaml names no address %s", ex.Address)
	}
	return dir
}

// Each example directory has the files examples/README.md promises, every
// one embedded, its MetricTemplates all of type externalmetrics at the
// catalogued address, and a README.md with the commands and the verdict.
func TestExampleFiles(t *testing.T) {
	index, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples.Examples {
		for _, name := range []string{"canary.yaml", "metric-templates.yaml", "secret.yaml", examples.ScenarioFile, "README.md"} {
			disk, err := os.ReadFile(filepath.Join(ex.Dir, name))
			if err != nil {
				t.Errorf("%s: %v", ex.Dir, err)
				continue
			}
			embedded, err := fs.ReadFile(examples.FS, ex.Dir+"/"+name)
			if err != nil || !bytes.Equal(disk, embedded) {
				t.Errorf("%s/%s: embedded copy differs from the file (%v)", ex.Dir, name, err)
			}
		}
		set := parse(t, ex)
		if _, err := set.Resolve(); err != nil || set.Err() != nil {
			t.Errorf("%s: %v %v", ex.Dir, set.Err(), err)
		}
		if len(set.Canaries) != 1 || set.Canaries[0].Key() != ex.Canary {
			t.Errorf("%s: canaries %v, want %s", ex.Dir, set.Canaries, ex.Canary)
		}
		for _, tpl := range set.Templates {
			if tpl.Spec.Provider.Type != "externalmetrics" || tpl.Spec.Provider.Address != ex.Address || tpl.Spec.Provider.SecretRef == nil {
				t.Errorf("%s: template %s: provider %+v", ex.Dir, tpl.Key(), tpl.Spec.Provider)
			}
		}

		readme, err := os.ReadFile(filepath.Join(ex.Dir, "README.md"))
		if err != nil {
			continue
		}
		host := strings.TrimPrefix(ex.Address, "https://")
		for _, want := range []string{
			"Expected verdict: **" + string(ex.Verdict) + "**",
			"--profile " + ex.Profile,
			"--addr " + host,
			"--scenario examples/" + ex.Dir + "/scenario.yaml",
			"--token " + secretToken(t, ex),
			"extmetrics analyze -f examples/" + ex.Dir,
		} {
			if !bytes.Contains(readme, []byte(want)) {
				t.Errorf("%s/README.md lacks %q", ex.Dir, want)
			}
		}
		if !bytes.Contains(index, []byte("("+ex.Dir+"/)")) {
			t.Errorf("examples/README.md does not link %s/", ex.Dir)
		}
	}
}

// Scenarios parse and validate.
func TestScenarios(t *testing.T) {
	for _, ex := range examples.Examples {
		sc, err := ex.Scenario()
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if err := sc.Validate(); err != nil || len(sc.Metrics) == 0 {
			t.Errorf("%s: %d metrics, %v", ex.Dir, len(sc.Metrics), err)
		}
	}
	if _, ok := examples.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
}
