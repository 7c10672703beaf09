package devserver_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

func TestAdminSeries(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	tok := devservertest.Token
	const p = "/admin/v1/namespaces/shop/metrics/orders_per_second"

	for _, tc := range []struct{ body, want string }{
		{`{"labels":{"app":"shop"},"value":1.5}`, "1500m"},
		{`{"labels":{"app":"shop"},"value":"2500m"}`, "2500m"},
		{`{"labels":{"app":"shop"},"value":"3k"}`, "3k"},
		{`{"labels":{"app":"shop"},"value":-0.25}`, "-250m"},
	} {
		r := do(t, s, "PUT", p, tok, tc.body)
		if r.code != 200 {
			t.Fatalf("PUT %s: %d %s", tc.body, r.code, r.body)
		}
		got := do(t, s, "GET", nsPath+"shop/orders_per_second?labelSelector=app%3Dshop", tok, "")
		if !strings.Contains(string(got.body), `"value":"`+tc.want+`"`) {
			t.Errorf("after PUT %s: %s", tc.body, got.body)
		}
	}
	// Without labels, a second series.
	if r := do(t, s, "PUT", p, tok, `{"value":7}`); r.code != 200 {
		t.Fatalf("PUT no labels: %d %s", r.code, r.body)
	}
	st := do(t, s, "GET", "/admin/v1/state", tok, "")
	if st.code != 200 || !json.Valid(st.body) || !strings.Contains(string(st.body), "orders_per_second") {
		t.Errorf("state: %d %s", st.code, st.body)
	}
	r := do(t, s, "GET", "/apis/external.metrics.k8s.io/v1beta1", tok, "")
	if !strings.Contains(string(r.body), `"orders_per_second"`) {
		t.Errorf("new metric not in discovery: %s", r.body)
	}

	if r := do(t, s, "DELETE", p, tok, `{"labels":{"app":"shop"}}`); r.code != 200 || r.status(t).Status != "Success" {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}
	if r := do(t, s, "DELETE", p, tok, `{"labels":{"app":"shop"}}`); r.code != 404 {
		t.Errorf("DELETE again: %d %s", r.code, r.body)
	}
	if r := do(t, s, "DELETE", p, tok, ""); r.code != 200 {
		t.Errorf("DELETE without body (no labels): %d %s", r.code, r.body)
	}
	if r := do(t, s, "GET", nsPath+"shop/orders_per_second", tok, ""); r.code != 404 {
		t.Errorf("deleted metric: %d %s", r.code, r.body)
	}

	// The Go API does the same.
	if err := s.SetSeries("shop", "carts", map[string]string{"a": "b"}, "1500m"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSeries("shop", "carts", nil, "not a number"); err == nil {
		t.Error("SetSeries accepted a bad value")
	}
	if !s.DeleteSeries("shop", "carts", map[string]string{"a": "b"}) || s.DeleteSeries("shop", "carts", map[string]string{"a": "b"}) {
		t.Error("DeleteSeries")
	}
}

func TestAdminBadRequests(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	tok := devservertest.Token
	const p = "/admin/v1/namespaces/shop/metrics/m"
	for _, tc := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"PUT", p, `{"value":`, 400, "JSON ends early"},
		{"PUT", p, `{"value":1,}`, 400, "invalid JSON at byte"},
		{"PUT", p, `{"value":1,"extra":2}`, 400, `unknown field "extra"`},
		{"PUT", p, `{"labels":{"a":1},"value":1}`, 400, "labels: want string, got JSON number"},
		{"PUT", p, `{"labels":{}}`, 400, "value: required"},
		{"PUT", p, `{"value":true}`, 400, "value: want a number or a quantity"},
		{"PUT", p, `{"value":"lots"}`, 400, "lots"},
		{"PUT", p, `{"value":1}{"value":2}`, 400, "unexpected data after"},
		{"PUT", p, ``, 400, "empty body"},
		{"PUT", p, `{"labels":{"bad key!":"x"},"value":1}`, 400, "bad key!"},
		{"PUT", "/admin/v1/namespaces/Bad_NS/metrics/m", `{"value":1}`, 400, "invalid namespace"},
		{"PUT", p, `{"value":1}` + strings.Repeat(" ", devserver.MaxAdminBodyBytes), 413, "larger than"},
		{"PUT", "/admin/v1/faults", `{"status":200}`, 400, "status"},
		{"PUT", "/admin/v1/faults", `{"latency":5}`, 400, "latency"},
		{"PUT", "/admin/v1/faults", `{"bogus":true}`, 400, "bogus"},
		{"POST", p, `{"value":1}`, 405, "does not allow this method"},
		{"PUT", "/admin/v1/state", ``, 405, "does not allow this method"},
		{"GET", "/admin/v1/nothing", ``, 404, "could not find"},
		{"GET", "/admin/v1/namespaces/shop/metrics/", ``, 404, "could not find"},
	} {
		r := do(t, s, tc.method, tc.path, tok, tc.body)
		if r.code != tc.code {
			t.Errorf("%s %s %.60q: got %d %s, want %d", tc.method, tc.path, tc.body, r.code, r.body, tc.code)
			continue
		}
		if st := r.status(t); !strings.Contains(st.Message, tc.msg) {
			t.Errorf("%s %s %.60q: message %q does not contain %q", tc.method, tc.path, tc.body, st.Message, tc.msg)
		}
	}
}

func TestAdminFaults(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	tok := devservertest.Token
	if r := do(t, s, "PUT", "/admin/v1/faults/http_requests", tok, `{"status":503,"retryAfter":"2s"}`); r.code != 200 {
		t.Fatalf("PUT fault: %d %s", r.code, r.body)
	}
	if r := do(t, s, "GET", "/admin/v1/faults/http_requests", tok, ""); r.code != 200 || !strings.Contains(string(r.body), `"retryAfter":"2s"`) {
		t.Errorf("GET fault: %d %s", r.code, r.body)
	}
	if r := do(t, s, "GET", listPath, tok, ""); r.code != 503 || r.header.Get("Retry-After") != "2" {
		t.Errorf("with fault: %d %v", r.code, r.header)
	}
	if r := do(t, s, "DELETE", "/admin/v1/faults/http_requests", tok, ""); r.code != 200 {
		t.Errorf("DELETE fault: %d %s", r.code, r.body)
	}
	if r := do(t, s, "GET", listPath, tok, ""); r.code != 200 {
		t.Errorf("fault cleared: %d", r.code)
	}
	if r := do(t, s, "PUT", "/admin/v1/faults", tok, `{"malformed":true}`); r.code != 200 {
		t.Fatalf("PUT global fault: %d %s", r.code, r.body)
	}
	if r := do(t, s, "GET", nsPath+"team-a/queue_depth", tok, ""); r.code != 200 || json.Valid(r.body) {
		t.Errorf("global malformed: %d %s", r.code, r.body)
	}
	st := do(t, s, "GET", "/admin/v1/state", tok, "")
	if !strings.Contains(string(st.body), "malformed") {
		t.Errorf("state without the fault: %s", st.body)
	}
	if r := do(t, s, "DELETE", "/admin/v1/faults", tok, ""); r.code != 200 {
		t.Errorf("DELETE global: %d", r.code)
	}
}

func TestAdminAuth(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario(), AdminToken: "admin-secret",
		Tokens: map[string][]string{"reader": {"*"}, "team-a": {"team-a"}}})
	const p = "/admin/v1/namespaces/team-a/metrics/m"
	for _, tc := range []struct {
		token string
		code  int
	}{{"", 401}, {"wrong", 401}, {"reader", 403}, {"admin-secret", 200}} {
		if r := do(t, s, "PUT", p, tc.token, `{"value":1}`); r.code != tc.code {
			t.Errorf("admin token set, token %q: %d %s", tc.token, r.code, r.body)
		} else if tc.code != 200 {
			r.status(t)
		}
	}
	// The admin token is for the admin API only.
	if r := do(t, s, "GET", nsPath+"team-a/m", "admin-secret", ""); r.code != 401 {
		t.Errorf("admin token on reads: %d", r.code)
	}

	// Without an admin token any accepted token may use the admin API, within its namespaces.
	s2 := devservertest.New(t, devserver.Config{Tokens: map[string][]string{"reader": {"*"}, "team-a": {"team-a"}}})
	for _, tc := range []struct {
		token, path string
		code        int
	}{
		{"", p, 401}, {"wrong", p, 401}, {"team-a", p, 200}, {"team-a", "/admin/v1/namespaces/default/metrics/m", 403},
		{"reader", "/admin/v1/namespaces/default/metrics/m", 200},
	} {
		if r := do(t, s2, "PUT", tc.path, tc.token, `{"value":1}`); r.code != tc.code {
			t.Errorf("no admin token, token %q %s: %d %s", tc.token, tc.path, r.code, r.body)
		}
	}
}
