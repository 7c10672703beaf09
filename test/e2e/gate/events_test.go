package gate_test

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
)

// gateEvents lists the gate's Events on an object (kind, name), read
// through the events API with the admin's identity.
func gateEvents(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, kind, name string) []corev1.Event {
	t.Helper()
	l, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for i := range l.Items {
		if l.Items[i].Source.Component == "extmetrics-gate" {
			out = append(out, l.Items[i])
		}
	}
	return out
}

func describeEvents(es []corev1.Event) string {
	var b strings.Builder
	for i := range es {
		e := &es[i]
		fmt.Fprintf(&b, "%s %s x%d uid=%q: %s\n", e.Type, e.Reason, e.Count, e.InvolvedObject.UID, e.Message)
	}
	return b.String()
}

// TestGateEvents: `extmetrics gate --kubeconfig` (events on by default),
// with the deployed service account's RBAC (create/patch on events only),
// records the Flagger webhook checks as Events on the real Canary —
// `kubectl describe canary` lists the Normal pass and the Warning fail and
// error with their values — and many repeats make one Event per check and
// verdict per interval (counted through the events API); a repeat one
// interval later is the same Event counted twice (client-go's correlator,
// a PATCH). The Argo endpoint records on the AnalysisRun its analysisRun=
// names (Argo Rollouts' CRD from its module), listed with kubectl's field
// selector. No token in any event.
func TestGateEvents(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	// A namespace of its own per run: Events outlive a run (go test -count).
	eventsNS := fmt.Sprintf("gate-events-%d", time.Now().UnixNano()%1_000_000)
	token, kc := deployGate(t, ctx, c)
	kube, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}

	if err := c.ApplyYAML(ctx, moduleFile(t, "github.com/argoproj/argo-rollouts@v1.10.1", filepath.Join("manifests", "crds", "analysis-run-crd.yaml"))); err != nil {
		t.Fatalf("Argo's AnalysisRun CRD: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, "the AnalysisRun CRD established", func() (bool, string) {
		out, _, err := c.Kubectl(ctx, "get", "--raw", "/apis/argoproj.io/v1alpha1")
		return err == nil && strings.Contains(out, "analysisruns"), out
	})

	const upstreamToken = "events-upstream-token"
	up, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{upstreamToken: {"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	up.SetSeries(eventsNS, "error_rate", map[string]string{"app": "podinfo"}, "1500m")
	up.SetSeries(eventsNS, "error_rate", map[string]string{"app": "podinfo-primary"}, "1")
	up.SetSeries(eventsNS, "error_rate", map[string]string{"app": "fast"}, "1500m")
	up.SetSeries(eventsNS, "error_rate", map[string]string{"app": "fast-primary"}, "1")

	if err := c.ApplyYAML(ctx, fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: devserver, namespace: %[1]s}
stringData:
  token: %[2]s
  ca.crt: |
%[3]s
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: %[1]s
  annotations: {extmetrics.dev/provider-type: externalmetrics}
spec:
  provider: {type: prometheus, address: %[4]s, secretRef: {name: devserver}}
  query: '{{ namespace }}/error_rate?labelSelector=app%%3D{{ target }}'
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %[1]s}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1m, threshold: 5, maxWeight: 50, stepWeight: 10}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: fast, namespace: %[1]s}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: fast}
  service: {port: 9898}
  analysis: {interval: 2s, threshold: 5, maxWeight: 50, stepWeight: 10}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: podinfo-6d4f8-2-1, namespace: %[1]s}
spec:
  metrics:
    - name: error-rate
      successCondition: result.ratio <= 1.2
      provider:
        web:
          url: http://extmetrics-gate.extmetrics/argo/v1/value
          jsonPath: "{$}"
`, eventsNS, upstreamToken, indent(string(up.CAPEM()), "    "), up.URL())); err != nil {
		t.Fatal(err)
	}
	uid, _, err := c.Kubectl(ctx, "get", "canary", "-n", eventsNS, "podinfo", "-o", "jsonpath={.metadata.uid}")
	if err != nil || uid == "" {
		t.Fatalf("canary uid: %q %v", uid, err)
	}

	// The command, as deployed: the service account's kubeconfig, events
	// on by default; no cache, so that repeats read the same message.
	gateURL, stop := runCommand(t, "gate", "--listen", "127.0.0.1:0", "--kubeconfig", kc, "--namespaces", eventsNS, "--cache-ttl", "0")
	testutil.Eventually(t, 30*time.Second, "the command's /readyz", func() (bool, string) {
		code, body := call(t, "GET", gateURL+"/readyz", "")
		return code == 200 && strings.Contains(body, "informers synced"), body
	})
	flagger := func(name, md string) (int, string) {
		return call(t, "POST", gateURL+"/flagger/v1/check", `{"name":"`+name+`","namespace":"`+eventsNS+`","phase":"Progressing","checksum":"x","metadata":`+md+`}`)
	}
	baseline := `"baseline":"{{ namespace }}/error_rate?labelSelector=app%3D{{ target }}-primary"`
	pass := `{"templateRef":"error-rate",` + baseline + `,"maxRatio":"2"}`
	fail := `{"templateRef":"error-rate",` + baseline + `,"maxRatio":"1.2"}`
	broken := `{"templateRef":"error-rate","baseline":"{{ namespace }}/error_rate?labelSelector=app%3Dgone","maxRatio":"2"}`

	// Many repeats of a pass, a fail and an error (Flagger retries, several
	// Flagger replicas, the next iterations within the interval).
	start := time.Now()
	for i := 0; i < 25; i++ {
		if code, body := flagger("podinfo", pass); code != 200 {
			t.Fatalf("pass: %d %s", code, body)
		}
		if code, body := flagger("podinfo", fail); code != 422 {
			t.Fatalf("fail: %d %s", code, body)
		}
		if code, body := flagger("podinfo", broken); code != 424 {
			t.Fatalf("error: %d %s", code, body)
		}
	}
	if d := time.Since(start); d > 50*time.Second {
		t.Fatalf("75 checks took %v: longer than the canary's 1m interval, the count below would not hold", d)
	}
	var got []corev1.Event
	testutil.Eventually(t, 30*time.Second, "the podinfo Canary's 3 events", func() (bool, string) {
		got = gateEvents(t, ctx, kube, eventsNS, "Canary", "podinfo")
		return len(got) >= 3, describeEvents(got)
	})
	time.Sleep(2 * time.Second) // anything more would have come by now
	got = gateEvents(t, ctx, kube, eventsNS, "Canary", "podinfo")
	want := map[string]string{
		"Normal CheckPassed":  "error-rate: canary 1.5, baseline 1, ratio 1.5, delta 0.5 within maxRatio 2; cached: false (query ",
		"Warning CheckFailed": "error-rate: canary 1.5, baseline 1, ratio 1.5, delta 0.5: ratio 1.5 > maxRatio 1.2; cached: false (query ",
		"Warning CheckError":  "error-rate: no-values: baseline: ",
	}
	if len(got) != 3 {
		t.Fatalf("75 checks made %d events, want one per check and verdict:\n%s", len(got), describeEvents(got))
	}
	for i := range got {
		e := &got[i]
		prefix, ok := want[e.Type+" "+e.Reason]
		if !ok || !strings.HasPrefix(e.Message, eventsNS+"/"+prefix) || e.Count != 1 || string(e.InvolvedObject.UID) != uid ||
			e.InvolvedObject.APIVersion != "flagger.app/v1beta1" || e.ReportingController != "extmetrics-gate" {
			t.Errorf("unexpected event %s %s x%d uid %q: %s", e.Type, e.Reason, e.Count, e.InvolvedObject.UID, e.Message)
		}
		delete(want, e.Type+" "+e.Reason)
	}
	if len(want) != 0 {
		t.Fatalf("missing events %v:\n%s", want, describeEvents(got))
	}

	// The real kubectl lists them under the Canary (it matches events by
	// the involved object's UID).
	out, stderr, err := c.Kubectl(ctx, "describe", "canary", "-n", eventsNS, "podinfo")
	if err != nil {
		t.Fatalf("kubectl describe canary: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"Normal   CheckPassed",
		"Warning  CheckFailed",
		"Warning  CheckError",
		"extmetrics-gate",
		"canary 1.5, baseline 1, ratio 1.5, delta 0.5 within maxRatio 2; cached: false",
		"ratio 1.5 > maxRatio 1.2",
		`baseline "` + eventsNS + `/error_rate?labelSelector=app=podinfo-primary"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe canary lacks %q:\n%s", want, out)
		}
	}

	// A 2s interval: the same check again one interval later is recorded
	// again — the same message, so client-go's correlator counts it on the
	// same Event (a PATCH: the deployed RBAC allows it).
	var first time.Time // after the first check returned: its event's window began before
	for i := 0; i < 3; i++ {
		if code, body := flagger("fast", pass); code != 200 {
			t.Fatalf("fast: %d %s", code, body)
		}
		if i == 0 {
			first = time.Now()
		}
	}
	if time.Since(first) >= 2*time.Second { // the precondition of the count below, not a performance bound
		t.Fatalf("3 checks took %v: the repeats were not within the 2s interval", time.Since(first))
	}
	time.Sleep(time.Until(first.Add(2*time.Second + 200*time.Millisecond)))
	for i := 0; i < 3; i++ {
		flagger("fast", pass)
	}
	testutil.Eventually(t, 30*time.Second, "the fast Canary's event counted twice", func() (bool, string) {
		got = gateEvents(t, ctx, kube, eventsNS, "Canary", "fast")
		return len(got) == 1 && got[0].Count == 2, describeEvents(got)
	})
	time.Sleep(time.Second)
	if got = gateEvents(t, ctx, kube, eventsNS, "Canary", "fast"); len(got) != 1 || got[0].Count != 2 {
		t.Fatalf("6 checks over 2 intervals: want one Event counted twice:\n%s", describeEvents(got))
	}

	// The Argo endpoint: on the AnalysisRun analysisRun= names.
	const run = "podinfo-6d4f8-2-1"
	q := url.Values{"template": {"error-rate"}, "namespace": {eventsNS}, "name": {"podinfo"},
		"baseline": {"{{ namespace }}/error_rate?labelSelector=app%3D{{ target }}-primary"}, "analysisRun": {run}}
	for i := 0; i < 10; i++ {
		if code, body := call(t, "GET", gateURL+"/argo/v1/value?"+q.Encode(), ""); code != 200 || !strings.Contains(body, `"ratio":1.5`) {
			t.Fatalf("argo: %d %s", code, body)
		}
	}
	testutil.Eventually(t, 30*time.Second, "the AnalysisRun's event", func() (bool, string) {
		got = gateEvents(t, ctx, kube, eventsNS, "AnalysisRun", run)
		return len(got) == 1, describeEvents(got)
	})
	if e := got[0]; e.Type != "Normal" || e.Reason != "CheckMeasured" || e.Count != 1 || e.InvolvedObject.APIVersion != "argoproj.io/v1alpha1" ||
		!strings.Contains(e.Message, "canary 1.5, baseline 1, ratio 1.5, delta 0.5 measured") {
		t.Fatalf("AnalysisRun event: %s", describeEvents(got))
	}
	out, stderr, err = c.Kubectl(ctx, "get", "events", "-n", eventsNS, "--field-selector", "involvedObject.kind=AnalysisRun,involvedObject.name="+run)
	if err != nil || !strings.Contains(out, "CheckMeasured") || !strings.Contains(out, "analysisrun/"+run) {
		t.Fatalf("kubectl get events --field-selector: %v\n%s%s", err, out, stderr)
	}

	// No token anywhere in the events, and none in the logs.
	l, err := kube.CoreV1().Events(eventsNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.Items {
		if e := &l.Items[i]; strings.Contains(e.Message, upstreamToken) || strings.Contains(e.Message, token) {
			t.Fatalf("a token in an event: %s", e.Message)
		}
	}
	if logs := stop(); strings.Contains(logs, token) || strings.Contains(logs, upstreamToken) || !strings.Contains(logs, `"events":true`) ||
		strings.Contains(logs, "Unable to write event") {
		t.Fatalf("command logs: %s", logs)
	}

	// --events=false: checks leave no event.
	offURL, stopOff := runCommand(t, "gate", "--listen", "127.0.0.1:0", "--kubeconfig", kc, "--namespaces", eventsNS, "--events=false")
	testutil.Eventually(t, 30*time.Second, "/readyz with --events=false", func() (bool, string) {
		code, body := call(t, "GET", offURL+"/readyz", "")
		return code == 200, body
	})
	if code, body := call(t, "POST", offURL+"/flagger/v1/check", `{"name":"fast","namespace":"`+eventsNS+`","metadata":{"templateRef":"error-rate",`+baseline+`,"maxRatio":"3"}}`); code != 200 {
		t.Fatalf("--events=false: %d %s", code, body)
	}
	if logs := stopOff(); !strings.Contains(logs, `"events":false`) {
		t.Fatalf("--events=false logs: %s", logs)
	}
	time.Sleep(time.Second)
	if got = gateEvents(t, ctx, kube, eventsNS, "Canary", "fast"); len(got) != 1 || strings.Contains(got[0].Message, "maxRatio 3") {
		t.Fatalf("--events=false recorded:\n%s", describeEvents(got))
	}
}
