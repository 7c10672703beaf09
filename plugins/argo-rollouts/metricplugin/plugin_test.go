package metricplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/internal/certgen"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// secrets is a SecretGetter over a map (unit tests; the real clientset is
// exercised by the end-to-end test against a kube-apiserver).
type secrets map[string]map[string][]byte

func (s secrets) SecretData(_ context.Context, ns, name string) (map[string][]byte, error) {
	if name == "forbidden" {
		return nil, errors.New(`secrets "forbidden" is forbidden: User "system:serviceaccount:argo-rollouts:argo-rollouts" cannot get resource "secrets"`)
	}
	d, ok := s[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", ErrSecretNotFound, ns, name)
	}
	return d, nil
}

func run() *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "shop"}}
}

func pluginMetric(t testing.TB, cfg map[string]any, success string) v1alpha1.Metric {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v1alpha1.Metric{Name: "m", SuccessCondition: success, Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{PluginName: raw}}}
}

func noCluster() (*rest.Config, error) { return nil, errors.New("not in a cluster") }

func TestRunWithSecretRef(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Tokens: map[string][]string{"shop-token": {"shop"}}})
	s.SetSeries("shop", "errors", nil, "2")
	plain := devservertest.New(t, devserver.Config{InsecureHTTP: true, Tokens: map[string][]string{"shop-token": {"shop"}}})
	plain.SetSeries("shop", "errors", nil, "2")
	p := New(Options{RESTConfig: noCluster, Provider: provider.Options{RetryBackoff: time.Millisecond}, Secrets: secrets{
		"shop/ext":       {"api-token": []byte("shop-token"), "ca.crt": s.CAPEM()},
		"shop/default":   {"token": []byte("shop-token"), "ca.crt": s.CAPEM()},
		"shop/empty":     {"other": []byte("x")},
		"shop/badtoken":  {"token": []byte("nope"), "ca.crt": s.CAPEM()},
		"shop/tokenonly": {"token": []byte("shop-token")},
	}})
	cfg := func(ref map[string]any) map[string]any {
		return map[string]any{"query": "shop/errors", "address": s.URL(), "secretRef": ref}
	}
	for _, c := range []struct {
		name  string
		cfg   map[string]any
		phase v1alpha1.AnalysisPhase
		msg   string
	}{
		{"token from key", cfg(map[string]any{"name": "ext", "key": "api-token"}), v1alpha1.AnalysisPhaseSuccessful, ""},
		{"default key", cfg(map[string]any{"name": "default"}), v1alpha1.AnalysisPhaseSuccessful, ""},
		{"missing secret", cfg(map[string]any{"name": "nosuch"}), v1alpha1.AnalysisPhaseError, `secretRef.name: secret "nosuch" not found in namespace "shop"`},
		{"missing key", cfg(map[string]any{"name": "ext", "key": "token2"}), v1alpha1.AnalysisPhaseError, `secretRef.key: secret shop/ext has no key "token2"`},
		{"nothing usable", cfg(map[string]any{"name": "empty"}), v1alpha1.AnalysisPhaseError, "holds none of token, ca.crt"},
		{"forbidden", cfg(map[string]any{"name": "forbidden"}), v1alpha1.AnalysisPhaseError, "secretRef.name: reading secret shop/forbidden"},
		{"rejected token", cfg(map[string]any{"name": "badtoken"}), v1alpha1.AnalysisPhaseError, "unauthorized"},
		{"no CA", map[string]any{"query": "shop/errors", "address": s.URL()}, v1alpha1.AnalysisPhaseError, "TLS verification failed"},
		{"token over http to a remote host", map[string]any{"query": "shop/errors", "address": "http://metrics.example.invalid:8080", "secretRef": map[string]any{"name": "tokenonly"}}, v1alpha1.AnalysisPhaseError,
			"refusing to send credentials (token) over plain http:// to metrics.example.invalid:8080, a host that is not loopback"},
		{"token over http to loopback", map[string]any{"query": "shop/errors", "address": plain.URL(), "secretRef": map[string]any{"name": "tokenonly"}}, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"no cluster", map[string]any{"query": "shop/errors"}, v1alpha1.AnalysisPhaseError, "no cluster configuration"},
		{"no plugin config", nil, v1alpha1.AnalysisPhaseError, "has no provider.plugin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mt := pluginMetric(t, c.cfg, "result == 2")
			if c.cfg == nil {
				mt.Provider.Plugin = nil
			}
			m := p.Run(run(), mt)
			if m.Phase != c.phase || !strings.Contains(m.Message, c.msg) || m.StartedAt == nil || m.FinishedAt == nil {
				t.Fatalf("%+v; want %s with %q", m, c.phase, c.msg)
			}
			if strings.Contains(m.Message, "shop-token") {
				t.Fatalf("token in %q", m.Message)
			}
		})
	}
}

// The controller's own configuration reaches the aggregation layer; runs
// reuse the pooled connection.
func TestRunAggregationLayerReusesConnection(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "requests", nil, "1")
	p := New(Options{RESTConfig: func() (*rest.Config, error) { return devservertest.RESTConfig(s, devservertest.Token), nil }})
	if e := p.InitPlugin(); e.HasError() {
		t.Fatal(e)
	}
	mt := pluginMetric(t, map[string]any{"query": "requests"}, "result == 1")
	for i := 0; i < 3; i++ {
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }})
		m := p.measure(ctx, run(), mt)
		if m.Phase != v1alpha1.AnalysisPhaseSuccessful {
			t.Fatalf("%+v", m)
		}
		if i > 0 && !reused {
			t.Fatalf("run %d opened a new connection", i)
		}
	}
}

func TestInitPluginWithoutCluster(t *testing.T) {
	p := New(Options{RESTConfig: noCluster})
	if e := p.InitPlugin(); e.HasError() {
		t.Fatalf("InitPlugin must not fail without a cluster: %v", e)
	}
	if md := p.GetMetadata(pluginMetric(t, map[string]any{"bad": 1}, "")); md != nil {
		t.Errorf("GetMetadata of a bad config = %v", md)
	}
}

// A client certificate from the Secret (tls.crt/tls.key) authenticates to
// a server that requires one; without it the measurement is an Error.
func TestRunWithClientCertificate(t *testing.T) {
	ca := certgen.Must(t, certgen.Options{CommonName: "clients", CA: true})
	client := certgen.Must(t, certgen.Options{CommonName: "argo-rollouts", Client: true, Parent: ca})
	caFile := filepath.Join(t.TempDir(), "clients.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := devservertest.New(t, devserver.Config{Tokens: map[string][]string{}, ClientCAFile: caFile})
	s.SetSeries("shop", "errors", nil, "2")
	p := New(Options{RESTConfig: noCluster, Provider: provider.Options{RetryBackoff: time.Millisecond, MaxRetries: -1}, Secrets: secrets{
		"shop/mtls":  {"tls.crt": client.CertPEM, "tls.key": client.KeyPEM, "ca.crt": s.CAPEM()},
		"shop/nocrt": {"ca.crt": s.CAPEM()},
	}})
	mt := func(secret string) v1alpha1.Metric {
		return pluginMetric(t, map[string]any{"query": "shop/errors", "address": s.URL(), "secretRef": map[string]any{"name": secret}}, "result == 2")
	}
	if m := p.Run(run(), mt("mtls")); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("with client certificate: %+v", m)
	}
	if m := p.Run(run(), mt("nocrt")); m.Phase != v1alpha1.AnalysisPhaseError {
		t.Fatalf("without client certificate: %+v", m)
	}
}
