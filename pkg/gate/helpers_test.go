package gate_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/gatetest"
)

var profiles = []string{devserver.ProfilePrometheusAdapter, devserver.ProfileCMA, devserver.ProfileDatadog}

// metricFor is a metric name the profile serves (the Cluster Agent only
// knows datadogmetric@<namespace>:<name>).
func metricFor(profile, name string) string {
	if profile == devserver.ProfileDatadog {
		return "datadogmetric@default:" + name
	}
	return name
}

// providerFiles writes s's CA and a token to files, as a mounted Secret would.
func providerFiles(t testing.TB, s *devserver.Server, token string) (caFile, tokenFile string) {
	t.Helper()
	dir := t.TempDir()
	caFile, tokenFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	if err := os.WriteFile(caFile, s.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tokenFile
}

type testGate struct {
	*gate.Gate
	srv *httptest.Server
	log *testutil.Buffer
}

func newGate(t testing.TB, opts gate.Options) *testGate {
	t.Helper()
	buf := &testutil.Buffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(buf, nil))
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	g, err := gate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return &testGate{Gate: g, srv: srv, log: buf}
}

type answer struct {
	status int
	body   string
	res    gate.Result
}

func (g *testGate) do(t testing.TB, method, path, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a.res); err != nil {
			t.Fatalf("%s %s: answer is not a Result: %v: %s", method, path, err, b)
		}
	}
	return a
}

func (g *testGate) check(t testing.TB, body any) answer {
	t.Helper()
	b, _ := json.Marshal(body)
	return g.do(t, "POST", "/v1/check", string(b))
}

func (g *testGate) flagger(t testing.TB, ns, name string, md map[string]string) answer {
	t.Helper()
	b, _ := json.Marshal(gate.FlaggerPayload{Name: name, Namespace: ns, Phase: "Progressing", Checksum: "abc", Metadata: md})
	return g.do(t, "POST", "/flagger/v1/check", string(b))
}

func (g *testGate) metrics(t testing.TB) string {
	t.Helper()
	return g.do(t, "GET", "/metrics", "").body
}

func objects(t testing.TB, yaml string) *gatetest.StaticObjects {
	t.Helper()
	set := flagger.NewSet(flagger.Options{})
	set.Parse("objects.yaml", []byte(yaml))
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return gatetest.NewStaticObjects(set)
}

var listLine = regexp.MustCompile(`(?m)^extmetrics_devserver_requests_total\{([^}]*)\} (\S+)$`)

// upstreamCount is the number of metric-value requests the devserver
// answered, read from its own /metrics.
func upstreamCount(t testing.TB, s *devserver.Server) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL()+"/metrics", http.NoBody)
	req.Header.Set("Authorization", "Bearer "+devservertest.Token)
	resp, err := devservertest.HTTPClient(s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n := 0
	for _, m := range listLine.FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], `kind="list"`) {
			v, _ := strconv.ParseFloat(m[2], 64)
			n += int(v)
		}
	}
	return n
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func fmtf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

func getenv(k string) string { return os.Getenv(k) }
