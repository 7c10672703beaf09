package provider_test

// Integration tests: the provider against the real development server
// (package devserver) over HTTPS on loopback, for every profile and fault.

import (
	"context"
	"errors"
	"net"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// bound is a generous limit for "fails within a bounded time" on a loaded
// 2-core machine; the provider's own budget is far smaller.
const bound = 10 * time.Second

var profiles = []string{devserver.ProfilePrometheusAdapter, devserver.ProfileCMA, devserver.ProfileDatadog}

// metricFor is a metric name the profile serves: the Cluster Agent only
// knows datadogmetric@<namespace>:<name>.
func metricFor(profile, name string) string {
	if profile == devserver.ProfileDatadog {
		return "datadogmetric@default:" + name
	}
	return name
}

func secretSpec(s *devserver.Server, token string) provider.Spec {
	return provider.Spec{Address: s.URL(), SecretData: map[string][]byte{"token": []byte(token), "ca.crt": s.CAPEM()}}
}

func newProvider(t *testing.T, base *rest.Config, spec provider.Spec, opts provider.Options) *provider.Provider {
	t.Helper()
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = 20 * time.Millisecond
	}
	p, err := provider.New(base, spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// expectKind runs q with Query and with the Flagger facade and checks both
// fail with want, within bound, and that RunQuery gives 0.
func expectKind(t *testing.T, p *provider.Provider, q string, want error, msg string) {
	t.Helper()
	start := time.Now()
	res, err := p.Query(context.Background(), q)
	if d := time.Since(start); d > bound {
		t.Errorf("%s: took %v", q, d)
	}
	if res != nil || !errors.Is(err, want) {
		t.Fatalf("%s: result %+v, err %v; want %v", q, res, err, want)
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: message %q lacks %q", q, err, msg)
	}
	start = time.Now()
	v, ferr := p.RunQuery(q)
	if v != 0 || !errors.Is(ferr, want) {
		t.Fatalf("RunQuery(%s) = %v, %v; want 0 and %v", q, v, ferr, want)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("RunQuery(%s): took %v", q, d)
	}
	if strings.Contains(err.Error(), devservertest.Token) {
		t.Fatalf("token in error %q", err)
	}
}

func TestDevserverProfiles(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			s := devservertest.New(t, devserver.Config{Profile: profile})
			ok := metricFor(profile, "requests")
			if err := s.SetSeries("default", ok, map[string]string{"app": "web"}, "1500m"); err != nil {
				t.Fatal(err)
			}
			p := newProvider(t, nil, secretSpec(s, devservertest.Token), provider.Options{Timeout: 2 * time.Second})

			// Success, through Query and the Flagger facade.
			res, err := p.Query(context.Background(), "default/"+ok)
			if err != nil || res.Value != 1.5 || res.Matched != 1 || res.Items[0].Quantity != "1500m" {
				t.Fatalf("query: %+v %v", res, err)
			}
			if v, err := p.RunQuery("default/" + ok); v != 1.5 || err != nil {
				t.Fatalf("RunQuery = %v, %v", v, err)
			}

			// Online for every profile (Flagger's dummy-metric check calls the Cluster Agent down).
			if online, err := p.IsOnline(); !online || err != nil {
				t.Fatalf("IsOnline = %v, %v", online, err)
			}
			names, err := p.List(context.Background())
			if err != nil || !contains(names, ok) {
				t.Fatalf("List = %v, %v", names, err)
			}

			// Unknown metric: each profile answers differently.
			unknown := "default/" + metricFor(profile, "nosuchmetric")
			switch profile {
			case devserver.ProfilePrometheusAdapter:
				expectKind(t, p, unknown, provider.ErrNotFound, "404")
			case devserver.ProfileCMA:
				expectKind(t, p, unknown, provider.ErrNoValuesFound, "no items")
			case devserver.ProfileDatadog:
				expectKind(t, p, unknown, provider.ErrNotFound, "DatadogMetric not found")
				expectKind(t, p, "default/requests", provider.ErrNotFound, "DatadogMetric not found")
			}

			// Every fault, on its own metric.
			faults := []struct {
				name  string
				fault scenario.Fault
				want  error
				msg   string
			}{
				{"503", scenario.Fault{Status: 503}, provider.ErrUnavailable, "503"},
				{"502", scenario.Fault{Status: 502}, provider.ErrUnavailable, "502"},
				{"429", scenario.Fault{Status: 429, RetryAfter: time.Second}, provider.ErrUnavailable, "Retry-After"},
				{"500", scenario.Fault{Status: 500}, provider.ErrUnavailable, "injected fault"},
				{"404", scenario.Fault{Status: 404}, provider.ErrNotFound, "404"},
				{"reset", scenario.Fault{Reset: true}, provider.ErrUnavailable, ""},
				{"malformed", scenario.Fault{Malformed: true}, provider.ErrUnavailable, "malformed"},
				{"truncated", scenario.Fault{Truncate: true}, provider.ErrUnavailable, "malformed"},
				{"timeout", scenario.Fault{Latency: 4 * time.Second}, provider.ErrUnavailable, "timed out after 2s"},
			}
			for _, f := range faults {
				metric := metricFor(profile, "fault-"+f.name)
				if err := s.SetSeries("default", metric, nil, "7"); err != nil {
					t.Fatal(err)
				}
				s.SetFault(metric, f.fault)
				t.Run(f.name, func(t *testing.T) { expectKind(t, p, "default/"+metric, f.want, f.msg) })
			}

			// Stale data: the generic profiles need maxAge; the Cluster Agent
			// itself refuses metrics older than its max age.
			stale := metricFor(profile, "stale")
			if err := s.SetSeries("default", stale, nil, "7"); err != nil {
				t.Fatal(err)
			}
			s.SetFault(stale, scenario.Fault{StaleBy: 5 * time.Minute})
			if profile == devserver.ProfileDatadog {
				expectKind(t, p, "default/"+stale, provider.ErrStale, "is stale")
			} else {
				expectKind(t, p, "default/"+stale+"?maxAge=1m", provider.ErrStale, "maxAge 1m")
				if res, err := p.Query(context.Background(), "default/"+stale+"?maxAge=10m"); err != nil || res.Value != 7 {
					t.Fatalf("maxAge above the age: %+v %v", res, err)
				}
			}
		})
	}
}

func TestDevserverAuthAndTLS(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Tokens: map[string][]string{
		devservertest.Token: {devserver.AllNamespaces},
		"team-a-token":      {"team-a"},
	}})
	for _, ns := range []string{"default", "team-a", "team-b"} {
		if err := s.SetSeries(ns, "requests", nil, "1"); err != nil {
			t.Fatal(err)
		}
	}
	opts := provider.Options{Timeout: 2 * time.Second}

	// 401: a token the server does not know.
	p := newProvider(t, nil, secretSpec(s, "wrong-token"), opts)
	expectKind(t, p, "default/requests", provider.ErrUnauthorized, "401")
	if online, err := p.IsOnline(); online || !errors.Is(err, provider.ErrUnauthorized) {
		t.Fatalf("IsOnline with a bad token = %v, %v", online, err)
	}

	// 403: a token limited to team-a.
	p = newProvider(t, nil, secretSpec(s, "team-a-token"), opts)
	if _, err := p.Query(context.Background(), "team-a/requests"); err != nil {
		t.Fatal(err)
	}
	expectKind(t, p, "team-b/requests", provider.ErrForbidden, "403")

	// Untrusted certificate: no CA given.
	p = newProvider(t, nil, provider.Spec{Address: s.URL(), SecretData: map[string][]byte{"token": []byte(devservertest.Token)}}, opts)
	expectKind(t, p, "default/requests", provider.ErrUnavailable, "certificate")
	// ... insecureSkipVerify accepts it; a CA file does too.
	p = newProvider(t, nil, provider.Spec{Address: s.URL(), InsecureSkipVerify: true, SecretData: map[string][]byte{"token": []byte(devservertest.Token)}}, opts)
	if _, err := p.Query(context.Background(), "default/requests"); err != nil {
		t.Fatal(err)
	}
	caFile := testutil.WriteCA(t, s.CAPEM())
	p = newProvider(t, nil, provider.Spec{Address: s.URL(), SecretData: map[string][]byte{"token": []byte(devservertest.Token)}}, provider.Options{CAFile: caFile})
	if _, err := p.Query(context.Background(), "default/requests"); err != nil {
		t.Fatal(err)
	}

	// Refused connection: listen, then close the port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p = newProvider(t, nil, provider.Spec{Address: "https://" + addr, SecretData: map[string][]byte{"token": []byte(devservertest.Token), "ca.crt": s.CAPEM()}}, opts)
	expectKind(t, p, "default/requests", provider.ErrUnavailable, "refused")
	if online, err := p.IsOnline(); online || !errors.Is(err, provider.ErrUnavailable) {
		t.Fatalf("IsOnline on a closed port = %v, %v", online, err)
	}
}

// A pod's config: the service-account token file (a token this server
// rejects) and the cluster CA file. The Secret's token must win.
func TestDevserverSecretTokenBeatsPodServiceAccount(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "requests", nil, "2")
	dir := t.TempDir()
	saFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	os.WriteFile(saFile, []byte("system-serviceaccount-token"), 0o600)
	os.WriteFile(caFile, s.CAPEM(), 0o600)
	pod := &rest.Config{Host: s.URL(), BearerTokenFile: saFile, TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}}

	p := newProvider(t, pod, provider.Spec{}, provider.Options{})
	expectKind(t, p, "requests", provider.ErrUnauthorized, "") // control: the SA token is sent

	p = newProvider(t, pod, provider.Spec{SecretData: map[string][]byte{"token": []byte(devservertest.Token)}}, provider.Options{})
	if v, err := p.RunQuery("requests"); v != 2 || err != nil {
		t.Fatalf("secret token over pod SA file: %v, %v", v, err)
	}

	// insecureSkipVerify with the inherited CA file (client-go alone refuses).
	p = newProvider(t, pod, provider.Spec{InsecureSkipVerify: true, SecretData: map[string][]byte{"token": []byte(devservertest.Token)}}, provider.Options{})
	if v, err := p.RunQuery("requests"); v != 2 || err != nil {
		t.Fatalf("insecure with inherited CA: %v, %v", v, err)
	}
}

func TestDevserverKubeconfig(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "requests", map[string]string{"app": "web"}, "250m")
	path := devservertest.WriteKubeconfig(t, s, devservertest.Token)
	base, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, base, provider.Spec{}, provider.Options{})
	res, err := p.Query(context.Background(), "requests?labelSelector=app%3Dweb")
	if err != nil || res.Value != 0.25 {
		t.Fatalf("%+v %v", res, err)
	}
	if hr, err := p.Health(context.Background()); err != nil || !hr.Online || !strings.Contains(hr.Conn.Auth.String(), "base config") || !strings.Contains(hr.Conn.TLS.String(), "CA from base config") || hr.Conn.Auth.From.Origin != provider.OriginBase {
		t.Fatalf("%+v %v", hr, err)
	}
	// A kubeconfig with a stale token: the secret's token wins.
	path = devservertest.WriteKubeconfig(t, s, "expired-token")
	base, _ = clientcmd.BuildConfigFromFlags("", path)
	p = newProvider(t, base, provider.Spec{SecretData: map[string][]byte{"token": []byte(devservertest.Token)}}, provider.Options{})
	if _, err := p.Query(context.Background(), "requests"); err != nil {
		t.Fatal(err)
	}
}

// Flagger builds a provider per check: the second one reuses the first's connection.
func TestDevserverPerCheckReusesConnection(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "requests", nil, "1")
	spec := func() provider.Spec { return secretSpec(s, devservertest.Token) }
	if _, err := newProvider(t, nil, spec(), provider.Options{}).RunQuery("requests"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		})
		if _, err := newProvider(t, nil, spec(), provider.Options{}).Query(ctx, "requests"); err != nil {
			t.Fatal(err)
		}
		if !reused {
			t.Fatalf("check %d: new connection; want the pooled one", i)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// http:// against the HTTPS devserver is a configuration problem with its
// fix, not an invalid query; a CA with http:// is an error; a token over
// plain http:// to a host that is not loopback is refused without the
// explicit opt-in (then a warning).
func TestDevserverHTTPAgainstHTTPS(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	plain := "http://" + strings.TrimPrefix(s.URL(), "https://")
	p := newProvider(t, nil, provider.Spec{Address: plain, SecretData: map[string][]byte{"token": []byte(devservertest.Token)}}, provider.Options{MaxRetries: -1})
	_, err := p.Query(context.Background(), "default/x")
	if !errors.Is(err, provider.ErrUnavailable) || errors.Is(err, provider.ErrInvalidQuery) ||
		!strings.Contains(err.Error(), "the server speaks HTTPS: use "+s.URL()+" instead of "+plain) {
		t.Fatalf("got %v", err)
	}
	if w := p.Info().Warning; w != "" {
		t.Errorf("loopback http:// warned: %v", w)
	}

	if _, err := provider.New(nil, provider.Spec{Address: plain, SecretData: map[string][]byte{"ca.crt": s.CAPEM()}}, provider.Options{}); err == nil ||
		!strings.Contains(err.Error(), "the secret's ca.crt is given but the address "+plain+" is plain http://") {
		t.Errorf("ca.crt with http://: %v", err)
	}
	caFile := testutil.WriteCA(t, s.CAPEM())
	if _, err := provider.New(nil, provider.Spec{Address: plain}, provider.Options{CAFile: caFile}); err == nil ||
		!strings.Contains(err.Error(), "CA file "+caFile+" is given") {
		t.Errorf("--ca-file with http://: %v", err)
	}

	// A token over plain http:// to a host that is not loopback: refused,
	// unless the explicit opt-in is set (then a warning).
	remoteSpec := provider.Spec{Address: "http://metrics.example.com:8080", SecretData: map[string][]byte{"token": []byte("t0ken")}}
	_, err = provider.New(nil, remoteSpec, provider.Options{})
	var phe *provider.PlainHTTPError
	if !errors.Is(err, provider.ErrPlainHTTPCredentials) || !errors.As(err, &phe) || strings.Contains(err.Error(), "t0ken") ||
		!strings.Contains(err.Error(), "refusing to send credentials (token) over plain http:// to metrics.example.com:8080") ||
		!strings.Contains(err.Error(), "allowCredentialsOverHTTP (--allow-credentials-over-http)") {
		t.Errorf("token over http:// to a remote host: %v", err)
	}
	remote, err := provider.New(nil, remoteSpec, provider.Options{AllowCredentialsOverHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if w := remote.Info().Warning; !strings.Contains(w, "sent over plain http:// to metrics.example.com:8080") || strings.Contains(w, "t0ken") {
		t.Errorf("warnings %v", w)
	}
	// Without credentials plain http:// is allowed (nothing to read).
	if _, err := provider.New(nil, provider.Spec{Address: "http://metrics.example.com:8080"}, provider.Options{}); err != nil {
		t.Errorf("no credentials over http://: %v", err)
	}
}

// With a wrong CA and insecureSkipVerify the CA wins; the error must not
// suggest setting insecureSkipVerify, which is set.
func TestDevserverWrongCAWithInsecure(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	other := devservertest.New(t, devserver.Config{})
	p := newProvider(t, nil, provider.Spec{Address: s.URL(), InsecureSkipVerify: true,
		SecretData: map[string][]byte{"token": []byte(devservertest.Token), "ca.crt": other.CAPEM()}}, provider.Options{MaxRetries: -1})
	_, err := p.Query(context.Background(), "default/x")
	if !errors.Is(err, provider.ErrUnavailable) || strings.Contains(err.Error(), "or set insecureSkipVerify") ||
		!strings.Contains(err.Error(), "insecureSkipVerify is set but ignored because a CA was given") {
		t.Fatalf("got %v", err)
	}
}
