package gate_test

// examples/gate, run as written: the Canary's webhooks and the Argo
// AnalysisTemplate's web URLs against a gate whose providers and templates
// point at devservers instead of the Datadog Cluster Agent and the cluster.

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/gatetest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

const exampleDir = "../../examples/gate"

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExamples(t *testing.T) {
	sc, err := scenario.LoadFile(filepath.Join(exampleDir, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dca := devservertest.New(t, devserver.Config{Profile: devserver.ProfileDatadog, Scenario: sc})
	cluster := devservertest.New(t, devserver.Config{})
	cluster.SetSeries("shop", "http_request_duration_p99_ms", map[string]string{"app": "checkout"}, "180")
	const dcaAddr = "https://datadog-cluster-agent-metrics-api.datadog.svc:8443"

	// The files, with the Cluster Agent's address, CA and token replaced by the devserver's.
	dir := t.TempDir()
	caFile, tokenFile := providerFiles(t, dca, devservertest.Token)
	cfgText := strings.NewReplacer(dcaAddr, dca.URL(), "/etc/extmetrics/datadog/ca.crt", caFile, "/etc/extmetrics/datadog/token", tokenFile).Replace(readExample(t, "gate.yaml"))
	cfg, err := gate.ParseConfig([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	secret := readExample(t, "secret.yaml")
	secret = strings.Replace(secret, "replace-with-a-token-the-cluster-agent-accepts", devservertest.Token, 1)
	before, _, ok := strings.Cut(secret, "    -----BEGIN")
	if !ok {
		t.Fatal("examples/gate/secret.yaml: no CA to replace")
	}
	secret = before + indent(string(dca.CAPEM()), "    ") + "\n"
	files := map[string]string{
		"metric-templates.yaml": strings.ReplaceAll(readExample(t, "metric-templates.yaml"), dcaAddr, dca.URL()),
		"secret.yaml":           secret,
		"canary.yaml":           readExample(t, "canary.yaml"),
	}
	var paths []string
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		paths = append(paths, p)
	}
	objs, err := gatetest.LoadStaticObjects(paths...)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(t, gate.Options{Config: cfg, Objects: objs, Cluster: devservertest.RESTConfig(cluster, devservertest.Token)})

	// Flagger: every webhook of the Canary, with Flagger's payload.
	var canary struct {
		Metadata struct{ Name, Namespace string }
		Spec     struct {
			Analysis struct {
				Webhooks []struct {
					Name, Type, URL string
					Metadata        map[string]string
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(files["canary.yaml"]), &canary); err != nil {
		t.Fatal(err)
	}
	if len(canary.Spec.Analysis.Webhooks) != 3 {
		t.Fatalf("webhooks: %+v", canary.Spec.Analysis.Webhooks)
	}
	want := map[string]float64{"error-rate": 0.8, "latency": 180, "checkout-rps": 42}
	for _, w := range canary.Spec.Analysis.Webhooks {
		u, _ := url.Parse(w.URL)
		if w.Type != "rollout" || u.Host != "extmetrics-gate.extmetrics" || u.Path != "/flagger/v1/check" {
			t.Errorf("webhook %s: %s %s", w.Name, w.Type, w.URL)
		}
		a := g.flagger(t, canary.Metadata.Namespace, canary.Metadata.Name, w.Metadata)
		if a.status != 200 || a.res.Value == nil || *a.res.Value != want[w.Name] {
			t.Errorf("webhook %s: %d %s", w.Name, a.status, a.body)
		}
	}

	// Argo Rollouts: the web provider's URL with the template's args, and
	// its jsonPath {$.value}.
	var at struct {
		Spec struct {
			Metrics []struct {
				Name     string
				Provider struct {
					Web struct{ URL, JSONPath string }
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(readExample(t, "analysis-template.yaml")), &at); err != nil {
		t.Fatal(err)
	}
	wantArgo := map[string]float64{"error-rate": 0.8, "rps": 42}
	for _, m := range at.Spec.Metrics {
		u, err := url.Parse(strings.ReplaceAll(m.Provider.Web.URL, "{{args.service-name}}", "checkout"))
		if err != nil || m.Provider.Web.JSONPath != "{$.value}" {
			t.Fatalf("%s: %v %q", m.Name, err, m.Provider.Web.JSONPath)
		}
		a := g.do(t, "GET", u.Path+"?"+u.RawQuery, "")
		var body struct{ Value *float64 }
		json.Unmarshal([]byte(a.body), &body)
		if a.status != 200 || body.Value == nil || *body.Value != wantArgo[m.Name] {
			t.Errorf("argo metric %s: %d %s", m.Name, a.status, a.body)
		}
	}
}
