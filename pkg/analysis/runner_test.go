package analysis_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// The library entry point: Load + Runner against the real devserver, and the
// one connection rule for templates with and without an address.

func TestRunnerLoadsAndRuns(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Profile: devserver.ProfilePrometheusAdapter})
	healthy(t, s)
	dir := files(t, s, devservertest.Token, "    interval: 30s\n    stepWeight: 20\n    maxWeight: 60\n    threshold: 2")
	resolved, _, err := analysis.Load([]string{dir}, flagger.Options{})
	if err != nil || len(resolved) != 1 {
		t.Fatalf("Load: %d canaries, %v", len(resolved), err)
	}
	var events atomic.Int64
	r := analysis.Runner{
		Connection: analysis.Connection{Options: provider.Options{Timeout: 10 * time.Second, MaxRetries: -1}},
		Interval:   time.Millisecond,
		Observer:   counter{&events},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx, resolved)
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Canaries[0]; c.Verdict != analysis.Succeeded || c.Runs != 3 {
		t.Fatalf("verdict %s after %d runs (%s), want Succeeded after 3", c.Verdict, c.Runs, c.Reason)
	}
	if events.Load() == 0 {
		t.Error("the observer saw no event")
	}

	r.Once = true
	rep, err = r.Run(ctx, resolved)
	if err != nil || rep.Canaries[0].Runs != 1 {
		t.Fatalf("Once: %+v, %v", rep, err)
	}

	// A configuration error is a plain error, with no report.
	r.Factory = func(provider.Spec) (analysis.Querier, error) { return nil, errors.New("no provider here") }
	if rep, err := r.Run(ctx, resolved); err == nil || rep != nil || !strings.Contains(err.Error(), "no provider here") {
		t.Fatalf("failing factory: %v, %v", rep, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, notes, err := analysis.Load([]string{path}, flagger.Options{}); err == nil || !strings.Contains(err.Error(), "no Canary") || len(notes) == 0 {
		t.Fatalf("no canary: notes %q, err %v", notes, err)
	}
	if _, _, err := analysis.Load([]string{filepath.Join(dir, "missing.yaml")}, flagger.Options{}); err == nil {
		t.Fatal("missing file: no error")
	}
}

// connInfo builds the provider for spec through the factory and says where it
// connects and with which credentials.
func connInfo(t *testing.T, f analysis.ProviderFactory, spec provider.Spec) provider.ConnInfo {
	t.Helper()
	q, err := f(spec)
	if err != nil {
		t.Fatalf("factory(%+v): %v", spec.Address, err)
	}
	return q.(*provider.Provider).Info()
}

func TestConnectionRule(t *testing.T) {
	base, other := devservertest.New(t, devserver.Config{}), devservertest.New(t, devserver.Config{})
	for _, s := range []*devserver.Server{base, other} {
		if err := s.SetSeries("test", "up", nil, "1"); err != nil {
			t.Fatal(err)
		}
	}
	var loads atomic.Int64
	conn := analysis.Connection{
		Base: func() (*rest.Config, error) {
			loads.Add(1)
			return devservertest.RESTConfig(base, devservertest.Token), nil
		},
		Options: provider.Options{Timeout: 10 * time.Second},
	}
	f := conn.Factory()

	// A template with an address is self-contained: its secret, never the base.
	selfContained := provider.Spec{Address: other.URL(), SecretData: map[string][]byte{
		provider.SecretKeyToken: []byte(devservertest.Token), provider.SecretKeyCA: other.CAPEM()}}
	if info := connInfo(t, f, selfContained); info.Server != other.URL() || !strings.Contains(info.Auth.String(), "secret") {
		t.Errorf("template with address: %+v", info)
	}
	if loads.Load() != 0 {
		t.Errorf("base config loaded %d times for a template with an address", loads.Load())
	}
	noSecret := provider.Spec{Address: other.URL()}
	if info := connInfo(t, f, noSecret); info.Auth.String() != "anonymous" || info.Auth.Method != provider.AuthNone || info.TLS.CA.Origin != provider.OriginSystem {
		t.Errorf("template with address and no secret got the base's credentials: %+v", info)
	}

	// Without an address: the base config's server and credentials, loaded once.
	for range 2 {
		q, err := f(provider.Spec{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.Query(context.Background(), "test/up")
		if err != nil || res.Value != 1 {
			t.Fatalf("query through the base config: %+v, %v", res, err)
		}
	}
	if info := connInfo(t, f, provider.Spec{}); info.Server != base.URL() || info.Auth.From.Origin != provider.OriginBase {
		t.Errorf("template without address: %+v", info)
	}
	if loads.Load() != 1 {
		t.Errorf("base config loaded %d times, want once", loads.Load())
	}

	// Default (the CLI's --server, --token, --insecure-skip-tls-verify)
	// applies to templates without an address only; the template's own
	// token wins over Default's.
	conn.Default = provider.Spec{Address: other.URL(), InsecureSkipVerify: true,
		SecretData: map[string][]byte{provider.SecretKeyToken: []byte("default-token")},
		TokenFrom:  provider.Source{Origin: provider.OriginFlag, Name: "--token"}}
	f = conn.Factory()
	if info := connInfo(t, f, provider.Spec{}); info.Auth.From != conn.Default.TokenFrom || info.Auth.String() != "bearer token (flag --token)" {
		t.Errorf("Default's token is reported as %+v (%s), want from flag --token", info.Auth, info.Auth)
	}
	if info := connInfo(t, f, provider.Spec{SecretData: map[string][]byte{provider.SecretKeyToken: []byte("t")}}); info.Auth.From.Origin != provider.OriginSecret {
		t.Errorf("the template's own token is reported as %+v", info.Auth)
	}
	if info := connInfo(t, f, provider.Spec{}); info.Server != other.URL() || info.TLS.Mode != provider.TLSInsecure || info.Auth.Method != provider.AuthToken {
		t.Errorf("Default for a template without address: %+v", info)
	}
	q, err := f(provider.Spec{SecretData: map[string][]byte{provider.SecretKeyToken: []byte(devservertest.Token)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Query(context.Background(), "test/up"); err != nil {
		t.Errorf("the template's token must win over Default's: %v", err)
	}
	q, err = f(provider.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Query(context.Background(), "test/up"); !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("Default's token must be sent when the template has none: %v", err)
	}
	if info := connInfo(t, f, selfContained); info.Server != other.URL() || info.TLS.Mode == provider.TLSInsecure {
		t.Errorf("Default leaked into a template with an address: %+v", info)
	}

	// A base that cannot be loaded is an error for templates without an address only.
	conn = analysis.Connection{Base: func() (*rest.Config, error) { return nil, errors.New("no kubeconfig") }}
	f = conn.Factory()
	if _, err := f(provider.Spec{}); err == nil || !strings.Contains(err.Error(), "no kubeconfig") {
		t.Errorf("unloadable base: %v", err)
	}
	if _, err := f(selfContained); err != nil {
		t.Errorf("template with address needs no base: %v", err)
	}
}

type counter struct{ n *atomic.Int64 }

func (c counter) Observe(analysis.Event) { c.n.Add(1) }
