package devserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

const nsPath = "/apis/external.metrics.k8s.io/v1beta1/namespaces/"

func int64p(v int64) *int64 { return &v }

// testScenario has web requests in default (three series), one series in
// team-a, and a DatadogMetric.
func testScenario() *scenario.Scenario {
	return &scenario.Scenario{Metrics: []scenario.Metric{
		{Name: "http_requests", Namespace: "default", Labels: map[string]string{"app": "web", "env": "prod"}, Generator: scenario.Constant(1.5), WindowSeconds: int64p(60)},
		{Name: "http_requests", Namespace: "default", Labels: map[string]string{"app": "web", "env": "canary", "team": "x"}, Generator: scenario.Constant(3)},
		{Name: "http_requests", Namespace: "default", Labels: map[string]string{"app": "api", "env": "prod"}, Generator: scenario.Constant(42)},
		{Name: "queue_depth", Namespace: "team-a", Generator: scenario.Constant(0.25)},
		{Name: "datadogmetric@default:checkout-error-rate", Namespace: "default", Labels: map[string]string{"ignored": "yes"}, Generator: scenario.Constant(0.125)},
	}}
}

// response is one HTTP answer.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) status(t testing.TB) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("answer %d is not a Status: %v: %s", r.code, err, r.body)
	}
	if st.Kind != "Status" || st.APIVersion != "v1" || int(st.Code) != r.code {
		t.Fatalf("bad Status for HTTP %d: %s", r.code, r.body)
	}
	return st
}

// do sends one request to s with token ("" for none).
func do(t testing.TB, s *devserver.Server, method, path, token, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := devservertest.HTTPClient(s)
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}
