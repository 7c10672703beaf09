package flaggercontroller

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/extmetrics/extmetrics/internal/ctlbuild"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
	"github.com/extmetrics/extmetrics/test/flaggercontroller/internal/flaggerctl"
	"github.com/extmetrics/extmetrics/test/flaggercontroller/internal/standin"
)

var cluster = harness.NewShared(harness.Options{})

var (
	flaggerBin string
	buildErr   error
)

// TestMain builds (or finds) the Flagger controller before the tests, within
// go test's timeout, then runs them against one shared kube-apiserver.
func TestMain(m *testing.M) {
	flag.Parse()
	// Canaries wait on Flagger's 10 s ticks, not on CPU: run them all at
	// once (go test's default -parallel is GOMAXPROCS, 2 here) unless
	// -parallel was given.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "64")
	}
	if !testing.Short() {
		start := time.Now()
		buildErr = ctlbuild.WithinTimeout(2*time.Minute, "the Flagger controller was not built",
			"run `go run ./cmd/flagger-controller` in test/flaggercontroller once, or raise -timeout",
			func(ctx context.Context) (err error) {
				flaggerBin, err = flaggerctl.Build(ctx, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
				return err
			})
		if d := time.Since(start); d > 5*time.Second {
			fmt.Fprintf(os.Stderr, "flagger controller ready in %s\n", d.Round(time.Second))
		}
	}
	// The controller and the stand-in hold watches: they stop before the
	// cluster does.
	cluster.OnStop(stopShared)
	os.Exit(cluster.Main(m))
}

// unavailable ends a test that cannot have what it needs: a failure in CI
// (CI=true), a skip elsewhere.
func unavailable(t testing.TB, format string, a ...any) {
	t.Helper()
	if harness.InCI() {
		t.Fatalf("real Flagger controller unavailable (CI=true, so this fails): "+format, a...)
	}
	t.Skipf("real Flagger controller unavailable (skipped outside CI; with CI=true this fails): "+format, a...)
}

var (
	canaryGVR = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}

	setupOnce sync.Once
	setupErr  error
	standIn   *standin.StandIn
	stopStand context.CancelFunc

	aggOnce sync.Once
	aggSrv  *devserver.Server
	aggErr  error

	sharedMu   sync.Mutex
	sharedCtl  *flaggerctl.Controller
	sharedErr  error
	sharedDone bool
)

// setup returns the cluster with Flagger's CRDs and the Deployment
// stand-in running (once per test binary).
func setup(t *testing.T) *harness.Cluster {
	t.Helper()
	if buildErr != nil {
		unavailable(t, "%v", buildErr)
	}
	c := cluster.Get(t)
	setupOnce.Do(func() {
		ctx := context.Background()
		crds, err := flaggerctl.CRDs(ctx)
		if err != nil {
			setupErr = err
			return
		}
		if err := c.ApplyYAML(ctx, crds); err != nil {
			setupErr = fmt.Errorf("Flagger CRDs: %w", err)
			return
		}
		dyn, err := dynamic.NewForConfig(c.AdminConfig())
		if err != nil {
			setupErr = err
			return
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := dyn.Resource(canaryGVR).Namespace("default").List(ctx, metav1.ListOptions{})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				setupErr = fmt.Errorf("Flagger CRDs not served: %w", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		sctx, cancel := context.WithCancel(context.Background())
		stopStand = cancel
		standIn, setupErr = standin.Start(sctx, c.AdminConfig())
	})
	if setupErr != nil {
		unavailable(t, "%v", setupErr)
	}
	return c
}

// sharedController is the controller every parallel canary test uses: all
// namespaces, the admin's kubeconfig (a static token: what Flagger running
// outside the cluster sees). It is started once and stopped after the
// tests.
func sharedController(t *testing.T) (*harness.Cluster, *flaggerctl.Controller) {
	t.Helper()
	c := setup(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if !sharedDone {
		sharedDone = true
		dir, err := os.MkdirTemp("", "extmetrics-flagger-")
		if err == nil {
			sharedCtl, err = flaggerctl.Start(context.Background(), flaggerBin, flaggerctl.Options{Kubeconfig: c.AdminKubeconfig(), WorkDir: dir})
		}
		sharedErr = err
	}
	if sharedErr != nil {
		unavailable(t, "start: %v", sharedErr)
	}
	return c, sharedCtl
}

func stopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCtl != nil {
		sharedCtl.Stop()
		if os.Getenv("EXTMETRICS_E2E_KEEP") != "1" {
			os.RemoveAll(filepath.Dir(sharedCtl.LogPath()))
		}
	}
	if stopStand != nil {
		stopStand()
	}
	if aggSrv != nil {
		aggSrv.Close()
	}
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
}

var tempDirs []string

// tempDir is a directory removed after all tests (for objects shared by
// several tests).
func tempDir() (string, error) {
	d, err := os.MkdirTemp("", "extmetrics-flagger-")
	if err == nil {
		sharedMu.Lock()
		tempDirs = append(tempDirs, d)
		sharedMu.Unlock()
	}
	return d, err
}

// deployment is the target of every canary: podinfo at image tag.
func deployment(ns, tag string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: %[1]s, labels: {app: podinfo}}
spec:
  replicas: 1
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:%[2]s
        ports: [{containerPort: 9898}]
`, ns, tag)
}

const (
	oldTag = "6.0.0"
	newTag = "6.0.1"
)

// Outcome is what the real controller did with one canary.
type Outcome struct {
	Phase        string
	FailedChecks int // highest status.failedChecks seen (Flagger resets it when it marks the canary Failed)
	Events       []string
	PrimaryImage string
	Queries      []string      // rendered queries of the metric checks, from the controller's debug log
	Init         time.Duration // Canary created -> Initialized
	Run          time.Duration // new revision -> final phase
}

// runCanary applies the namespace, the podinfo Deployment and objs (Secrets,
// MetricTemplates, the Canary named podinfo), waits for Flagger to
// initialize the canary, rolls out a new image and waits for the final
// phase (Succeeded or Failed).
func runCanary(t *testing.T, c *harness.Cluster, ctl *flaggerctl.Controller, ns, objs string, timeout time.Duration) Outcome {
	t.Helper()
	ctx := context.Background()
	if err := c.ApplyYAML(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n---\n"+deployment(ns, oldTag)+"---\n"+objs); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out Outcome
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("phase %q, events:\n  %s\ncontroller log lines about %s:\n%s", out.Phase, strings.Join(events(t, kube, ns), "\n  "), ns, controllerLines(ctl, ns, 60))
		}
	})
	created := time.Now()
	phase := func() (string, int) {
		u, err := dyn.Resource(canaryGVR).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return "", 0
		}
		p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		fc, _, _ := unstructured.NestedInt64(u.Object, "status", "failedChecks")
		return p, int(fc)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if p, _ := phase(); p == "Initialized" {
			break
		}
		if ctl.Exited() {
			t.Fatalf("the controller exited:\n%s", ctl.LogTail(3000))
		}
		if time.Now().After(deadline) {
			p, _ := phase()
			t.Fatalf("canary %s/podinfo not Initialized after 90s (phase %q)", ns, p)
		}
		time.Sleep(250 * time.Millisecond)
	}
	out.Init = time.Since(created)
	// The new revision.
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"podinfo","image":"ghcr.io/stefanprodan/podinfo:%s"}]}}}}`, newTag)
	if _, err := kube.AppsV1().Deployments(ns).Patch(ctx, "podinfo", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	rolled := time.Now()
	deadline = time.Now().Add(timeout)
	for {
		p, fc := phase()
		out.FailedChecks = max(out.FailedChecks, fc)
		out.Phase = p
		if p == "Succeeded" || p == "Failed" {
			break
		}
		if ctl.Exited() {
			t.Fatalf("the controller exited:\n%s", ctl.LogTail(3000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("canary %s/podinfo not finished after %s (phase %q)", ns, timeout, p)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out.Run = time.Since(rolled)
	prim, err := kube.AppsV1().Deployments(ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out.PrimaryImage = prim.Spec.Template.Spec.Containers[0].Image
	// Events are written asynchronously by Flagger's recorder: the last
	// one ("Promotion completed!" / "Canary failed!") may lag the status.
	want := "Promotion completed!"
	if out.Phase == "Failed" {
		want = "Canary failed!"
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		out.Events = events(t, kube, ns)
		if strings.Contains(strings.Join(out.Events, "\n"), want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out.Queries = renderedQueries(ctl, ns)
	if errs := standIn.Errors(); len(errs) > 0 {
		t.Errorf("the Deployment stand-in failed to write a status: %v", errs)
	}
	var warnings []string
	for _, e := range out.Events {
		if strings.HasPrefix(e, "Warning ") {
			warnings = append(warnings, e)
		}
	}
	if len(warnings) > 0 {
		t.Logf("%s: warning events:\n  %s", ns, strings.Join(warnings, "\n  "))
	}
	t.Logf("%s: %s in %s after a new revision (initialized in %s), failed checks %d, metric checks %d",
		ns, out.Phase, out.Run.Round(100*time.Millisecond), out.Init.Round(100*time.Millisecond), out.FailedChecks, len(out.Queries))
	return out
}

// assertPhase checks the end state: Succeeded promotes the new template to
// the primary, Failed keeps the old one.
func assertPhase(t *testing.T, o Outcome, want string) {
	t.Helper()
	if o.Phase != want {
		t.Fatalf("phase %s, want %s; events:\n  %s", o.Phase, want, strings.Join(o.Events, "\n  "))
	}
	img := "ghcr.io/stefanprodan/podinfo:" + oldTag
	if want == "Succeeded" {
		img = "ghcr.io/stefanprodan/podinfo:" + newTag
	}
	if o.PrimaryImage != img {
		t.Fatalf("%s: primary image %s, want %s", want, o.PrimaryImage, img)
	}
}

// events are the Canary's events (type, reason, message; xN when repeated),
// oldest first.
func events(t testing.TB, kube kubernetes.Interface, ns string) []string {
	list, err := kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.kind=Canary"})
	if err != nil {
		return []string{err.Error()}
	}
	sort.SliceStable(list.Items, func(i, j int) bool { return eventTime(list.Items[i]).Before(eventTime(list.Items[j])) })
	var out []string
	for i := range list.Items {
		e := &list.Items[i]
		s := e.Type + " " + e.Reason + ": " + e.Message
		if e.Count > 1 {
			s += fmt.Sprintf(" (x%d)", e.Count)
		}
		out = append(out, s)
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	if !e.FirstTimestamp.IsZero() {
		return e.FirstTimestamp.Time
	}
	return e.EventTime.Time
}

// countEvents sums the counts of the Canary's events whose message
// contains sub.
func countEvents(o Outcome, sub string) int {
	n := 0
	re := regexp.MustCompile(` \(x(\d+)\)$`)
	for _, e := range o.Events {
		if !strings.Contains(e, sub) {
			continue
		}
		if m := re.FindStringSubmatch(e); m != nil {
			var k int
			fmt.Sscan(m[1], &k)
			n += k
		} else {
			n++
		}
	}
	return n
}

// logLine is one line of Flagger's JSON log.
type logLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Canary string `json:"canary"`
}

var queryMsg = regexp.MustCompile(`^Metric template \S+ query: (.*)$`)

// renderedQueries are the queries Flagger rendered for the canary in ns
// (its debug line "Metric template <name>.<ns> query: <query>"), in order.
func renderedQueries(ctl *flaggerctl.Controller, ns string) []string {
	var qs []string
	for _, l := range logLines(ctl) {
		if l.Canary != "podinfo."+ns {
			continue
		}
		if m := queryMsg.FindStringSubmatch(l.Msg); m != nil {
			qs = append(qs, m[1])
		}
	}
	return qs
}

func logLines(ctl *flaggerctl.Controller) []logLine {
	var out []logLine
	for _, raw := range strings.Split(ctl.Log(), "\n") {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// controllerLines are the last n log lines mentioning ns.
func controllerLines(ctl *flaggerctl.Controller, ns string, n int) string {
	var keep []string
	for _, raw := range strings.Split(ctl.Log(), "\n") {
		if strings.Contains(raw, ns) {
			keep = append(keep, raw)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// indent indents every line of s by pre.
func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n")
}
