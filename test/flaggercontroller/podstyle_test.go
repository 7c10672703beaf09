package flaggercontroller

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
	"github.com/extmetrics/extmetrics/test/flaggercontroller/internal/flaggerctl"
)

// podKubeconfig is a kubeconfig shaped like Flagger's in-cluster
// configuration: a service-account token file (tokenFile) and the cluster CA
// as a file (certificate-authority). client-go turns it into the same
// rest.Config fields rest.InClusterConfig sets in a pod (Host,
// BearerTokenFile with the token read from it, TLSClientConfig.CAFile),
// which is what Flagger's externalmetrics provider copies; the in-cluster
// paths (/var/run/secrets/kubernetes.io/serviceaccount/...) are fixed and
// cannot be used on a shared test machine. The service account
// flagger-system/flagger is bound to cluster-admin.
func podKubeconfig(t *testing.T, c *harness.Cluster) (path, saToken string) {
	t.Helper()
	ctx := context.Background()
	tok, err := c.ServiceAccountToken(ctx, "flagger-system", "flagger", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyYAML(ctx, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: flagger-test}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: flagger, namespace: flagger-system}]
`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cl := clientcmdapi.NewCluster()
	cl.Server = c.URL()
	cl.CertificateAuthority = c.CAFile()
	cfg.Clusters["in-cluster"] = cl
	user := clientcmdapi.NewAuthInfo()
	user.TokenFile = tokenFile
	cfg.AuthInfos["flagger"] = user
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo = "in-cluster", "flagger"
	cfg.Contexts["flagger"] = kctx
	cfg.CurrentContext = "flagger"
	path = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	// The same fields as in a pod.
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if rc.BearerTokenFile != tokenFile || rc.TLSClientConfig.CAFile != c.CAFile() || rc.Host != c.URL() {
		t.Fatalf("pod-style rest.Config: host %q tokenFile %q caFile %q", rc.Host, rc.BearerTokenFile, rc.TLSClientConfig.CAFile)
	}
	return path, tok
}

// tokenRecorder fronts a devserver and counts the requests carrying a (the controller's own service-account token).
// given bearer token (the controller's own service-account token), by the
// namespace of the request's path.
type tokenRecorder struct {
	next  http.Handler
	token string
	seen  sync.Map // namespace -> *atomic.Int64
}

func (r *tokenRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") == "Bearer "+r.token {
		ns := ""
		if _, rest, ok := strings.Cut(req.URL.Path, "/namespaces/"); ok {
			ns, _, _ = strings.Cut(rest, "/")
		}
		n, _ := r.seen.LoadOrStore(ns, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	r.next.ServeHTTP(w, req)
}

// count is how many requests for namespace ns carried the token.
func (r *tokenRecorder) count(ns string) int64 {
	if n, ok := r.seen.Load(ns); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// Defect is one way Flagger v1.43–v1.44's externalmetrics provider fails
// in a pod, with the text seen in the Canary's events.
type defect struct {
	name  string
	objs  func(ns string) string
	event string // in the Canary's events
	leak  bool   // the controller's own token reached the template's address
	// code is the analyze note (flagger.CompatNote.Code) that predicts
	// the failure; its FlaggerError must be in the observed event.
	code string
	// analyzePasses: analyze's own check passes (the verdicts differ
	// unless --flagger-compat=strict).
	analyzePasses bool
}

// TestPodStyleDefects: the real controller, configured as in a pod
// (service-account token file and cluster CA file), fails every check of
// templates that `extmetrics analyze` runs fine: insecureSkipVerify, a
// Secret token with an address (the pod's token wins: Flagger sends its own
// service-account token to the address and gets 401), a Secret ca.crt
// (ignored: unknown authority), and an address without a Secret token (the
// controller's token again). Each canary is Failed.
//
// Not parallel: it runs before the parallel tests start the shared
// controller (which watches every namespace); each case has its own
// controller watching only its namespace.
func TestPodStyleDefects(t *testing.T) {
	c := setup(t)
	kubeconfig, saToken := podKubeconfig(t, c)

	// A devserver the cluster CA vouches for, behind a recorder.
	certFile, keyFile, err := c.BackendCert(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	trusted := startDevserver(t, c, devserver.ProfilePrometheusAdapter, nil)
	rec := &tokenRecorder{next: trusted.Handler(), token: saToken}
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewUnstartedServer(rec)
	front.TLS = &tls.Config{Certificates: []tls.Certificate{kp}}
	front.StartTLS()
	t.Cleanup(front.Close)
	// A devserver with its own CA (generated certificate): only the
	// Secret's ca.crt vouches for it.
	own, err := devserver.Start(context.Background(), devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{devToken: {devserver.AllNamespaces}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Close() })

	metric := errorRateMetric
	for _, d := range []defect{
		{name: "insecure", objs: func(ns string) string {
			return strings.Replace(templateYAML(ns, front.URL, errQuery, ""), "secretRef: {name: devserver}", "insecureSkipVerify: true, secretRef: {name: devserver}", 1)
		}, event: "Metric template error-rate.%s provider externalmetrics error: error creating external metric client: specifying a root certificates file with the insecure flag is not allowed",
			code: flagger.CompatPodInsecureSkipVerify, analyzePasses: true},
		// ca.crt is the cluster CA here, so TLS verifies in Flagger too:
		// the token is what fails.
		{name: "secret-token", objs: func(ns string) string { return templateYAML(ns, front.URL, errQuery, string(c.CAPEM())) },
			event: "Metric query failed for error-rate: error querying external metrics API: Unauthorized", leak: true,
			code: flagger.CompatPodSecretTokenIgnored, analyzePasses: true},
		{name: "secret-ca", objs: func(ns string) string { return templateYAML(ns, own.URL(), errQuery, string(own.CAPEM())) },
			event: "Metric query failed for error-rate: error querying external metrics API: Get \"" + own.URL() + "/apis/external.metrics.k8s.io/v1beta1/namespaces/%s/http_requests_error_rate?",
			code:  flagger.CompatPodSecretCAIgnored, analyzePasses: true},
		{name: "no-token", objs: func(ns string) string {
			return strings.Replace(strings.Replace(templateYAML(ns, front.URL, errQuery, ""), ", secretRef: {name: devserver}", "", 1), "token: "+devToken, "note: no token", 1)
		}, event: "Metric query failed for error-rate: error querying external metrics API: Unauthorized", leak: true,
			code: flagger.CompatPodTokenLeak},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ns := "pod-" + d.name
			for _, s := range []*devserver.Server{trusted, own} {
				if err := s.SetSeries(ns, "http_requests_error_rate", map[string]string{"app": "podinfo"}, "500m"); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			ctl, err := flaggerctl.Start(context.Background(), flaggerBin, flaggerctl.Options{Kubeconfig: kubeconfig, Namespace: ns, WorkDir: dir})
			if err != nil {
				unavailable(t, "start (pod-style): %v", err)
			}
			t.Cleanup(ctl.Stop)
			objs := d.objs(ns) + canaryYAML(ns, 1, 1, metric, "")
			o := runCanary(t, c, ctl, ns, objs, 3*time.Minute)
			assertPhase(t, o, "Failed")
			want := d.event
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, ns)
			}
			observed := checkEvent(o.Events, want)
			if observed == "" {
				t.Errorf("no event containing %q in:\n  %s", want, strings.Join(o.Events, "\n  "))
			}
			if d.leak && rec.count(ns) == 0 {
				t.Errorf("the controller's service-account token did not reach the template's address")
			}

			// analyze's claim about the same YAML, beside what happened.
			note := analyzeNote(t, objs, d.code, d.analyzePasses)
			if note.FlaggerError != "" && !strings.Contains(observed, note.FlaggerError) {
				t.Errorf("analyze's note %s predicts %q; Flagger's event: %q", note.Code, note.FlaggerError, observed)
			}
			t.Logf("analyze's note [%s]: %s\nFlagger v1.44.0 in a pod (observed): %s", note.Code, note.Text, observed)
		})
	}
}

// analyzeNote runs analyze's library on objs (each check once, as
// `extmetrics analyze --once`) and returns its Flagger note with code; with
// --flagger-compat=strict the same YAML must fail with kind flagger-compat.
func analyzeNote(t *testing.T, objs, code string, passes bool) flagger.CompatNote {
	t.Helper()
	file := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(file, []byte(objs), 0o600); err != nil {
		t.Fatal(err)
	}
	resolved, _, err := analysis.Load([]string{file}, flagger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(compat analysis.FlaggerCompat) analysis.CanaryResult {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rep, err := (&analysis.Runner{Once: true, FlaggerCompat: compat}).Run(ctx, resolved)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Canaries[0]
	}
	warn := run(analysis.FlaggerCompatWarn)
	var note *flagger.CompatNote
	var checks []analysis.Check
	for _, m := range warn.Metrics {
		checks = append(checks, m.Checks...)
		for _, n := range m.CompatNotes() {
			if n.Code == code {
				note = &n
			}
		}
	}
	if note == nil {
		t.Fatalf("analyze has no note %s for this template (verdict %s)", code, warn.Verdict)
	}
	if passes && (len(checks) == 0 || !checks[0].Passed) {
		t.Errorf("analyze's own check did not pass: %+v", checks)
	}
	strict := run(analysis.FlaggerCompatStrict)
	failedCompat := false
	for _, m := range strict.Metrics {
		for _, c := range m.Checks {
			failedCompat = failedCompat || (!c.Passed && c.ErrorKind == analysis.KindFlaggerCompat)
		}
	}
	if strict.Verdict != analysis.Failed || !failedCompat {
		t.Errorf("--flagger-compat=strict: verdict %s, want Failed with kind %s", strict.Verdict, analysis.KindFlaggerCompat)
	}
	return *note
}

// checkEvent is the event of a metric check (not of the availability check
// at initialization) containing sub.
func checkEvent(list []string, sub string) string {
	for _, s := range list {
		if strings.Contains(s, sub) && !strings.Contains(s, "Error checking metric providers") {
			return s
		}
	}
	return ""
}
