// Package e2e_test runs extmetrics against a real kube-apiserver (package
// harness): the aggregation layer in front of our devserver and of a real
// custom-metrics-apiserver, kubectl, the CLI with --kubeconfig, RBAC,
// service-account tokens and a backend that goes down.
package e2e_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testenv"
	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/cmd"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// One control plane for the package. Tests register their own backend as
// the external metrics APIService, so they run one after another.
var cluster = harness.NewShared(harness.Options{})

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

const nsPath = "/apis/external.metrics.k8s.io/v1beta1/namespaces/"

// isolate keeps the machine's kubeconfig, a pod's service account and
// EXTMETRICS_* variables out of the CLI under test (call it after
// cluster.Get: EXTMETRICS_E2E_* are cleared too).
func isolate(t *testing.T) { testenv.Isolate(t) }

// runCLI runs the extmetrics command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cmd.Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// aggregated is a devserver registered as the external metrics APIService.
type aggregated struct {
	s        *devserver.Server
	port     int
	cfg      devserver.Config
	logs     *testutil.Buffer
	certFile string
}

// startAggregated starts a devserver with profile behind the aggregator,
// set up as docs/devserver.md says: serving certificate for the
// APIService's Service name, signed by the cluster CA, and request-header
// authentication trusting the aggregator's front-proxy certificate. It
// returns once the APIService is Available.
func startAggregated(t *testing.T, c *harness.Cluster, profile string, before ...func(*aggregated)) *aggregated {
	t.Helper()
	return startAggregatedWith(t, c, profile, map[string][]string{}, before...)
}

// startAggregatedWith is startAggregated with tokens-file rules. The before
// functions run before the APIService is registered: series set there are
// in the discovery document kube-apiserver fetches from the new backend
// (it does not re-fetch it on every request).
func startAggregatedWith(t *testing.T, c *harness.Cluster, profile string, rules map[string][]string, before ...func(*aggregated)) *aggregated {
	t.Helper()
	certFile, keyFile, err := c.BackendCert(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	cfg := devserver.Config{
		Addr:        "127.0.0.1:0",
		Profile:     profile,
		Tokens:      rules, // kube-apiserver forwards no token
		TLSCertFile: certFile,
		TLSKeyFile:  keyFile,
		RequestHeader: devserver.RequestHeaderConfig{
			ClientCAFile: c.FrontProxyCAFile(),
			AllowedNames: []string{harness.FrontProxyClientName},
		},
		Logger: newLogger(logs),
	}
	a := &aggregated{cfg: cfg, logs: logs, certFile: certFile}
	a.start(t)
	cfg.Addr = a.s.Addr()
	a.cfg = cfg
	for _, f := range before {
		f(a)
	}
	if err := c.RegisterExternalMetrics(context.Background(), harness.Backend{Port: a.port}); err != nil {
		t.Fatal(err)
	}
	return a
}

// start (re)starts the devserver on a.cfg.Addr.
func (a *aggregated) start(t *testing.T) {
	t.Helper()
	s, err := devserver.Start(context.Background(), a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.s = s
	a.port = portOf(t, s.Addr())
	t.Cleanup(func() { _ = s.Close() })
}

func (a *aggregated) set(t *testing.T, ns, metric string, labels map[string]string, value string) {
	t.Helper()
	if err := a.s.SetSeries(ns, metric, labels, value); err != nil {
		t.Fatal(err)
	}
}

func portOf(t *testing.T, addr string) int { return portOfAddr(t, addr) }

func portOfAddr(t testing.TB, addr string) int {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// grantExternalMetrics lets subject (a User or a ServiceAccount "ns/name")
// read external metrics everywhere with a ClusterRole, and returns a
// function that takes the grant back.
func grantExternalMetrics(t *testing.T, c *harness.Cluster, name, subject string) func() {
	t.Helper()
	subj := "- kind: User\n  name: " + subject + "\n  apiGroup: rbac.authorization.k8s.io"
	if ns, sa, ok := strings.Cut(subject, "/"); ok {
		subj = "- kind: ServiceAccount\n  name: " + sa + "\n  namespace: " + ns
	}
	manifest := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ` + name + `
rules:
- apiGroups: ["external.metrics.k8s.io"]
  resources: ["*"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ` + name + `
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ` + name + `
subjects:
` + subj + "\n"
	ctx := context.Background()
	if err := c.ApplyYAML(ctx, manifest); err != nil {
		t.Fatal(err)
	}
	revoke := func() {
		_, _, _ = c.Kubectl(ctx, "delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found")
	}
	t.Cleanup(revoke)
	return revoke
}

// eventually retries f every 200ms until it returns nil or timeout passes;
// it returns f's last error.
func eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
