package devserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/extmetrics/extmetrics/pkg/devserver"
)

// handlerFor builds a server without a listener, for driving its handler
// directly.
func handlerFor(t testing.TB, profile string, tokens map[string][]string) http.Handler {
	t.Helper()
	s, err := devserver.New(devserver.Config{Profile: profile, Scenario: testScenario(), Tokens: tokens, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

// checkAnswer asserts the invariant of every answer: JSON, and a matching
// Status for anything but 2xx. The plain-text endpoints are the exception.
func checkAnswer(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch req.URL.Path {
	case "/healthz", "/readyz", "/livez", "/metrics":
		if rec.Code == 200 {
			return
		}
	}
	body := rec.Body.Bytes()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %q: Content-Type %q (code %d): %s", req.Method, req.URL, ct, rec.Code, body)
	}
	if req.Method == http.MethodHead {
		return
	}
	if !json.Valid(body) {
		t.Fatalf("%s %q: not JSON (code %d): %q", req.Method, req.URL, rec.Code, body)
	}
	if rec.Code >= 200 && rec.Code < 300 {
		return
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" || int(st.Code) != rec.Code || st.Message == "" {
		t.Fatalf("%s %q: code %d with body %s", req.Method, req.URL, rec.Code, body)
	}
}

func FuzzRequestPath(f *testing.F) {
	for _, seed := range []string{
		"/", "/apis", "/apis/", "/apis/external.metrics.k8s.io", "/apis/external.metrics.k8s.io/v1beta1",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/default/http_requests",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/default/http_requests?labelSelector=app%3Dweb",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/default/datadogmetric@default:checkout-error-rate",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces//x", "/apis/external.metrics.k8s.io/v1beta1/namespaces/a/b/c",
		"/api", "/version", "/healthz", "/metrics", "/admin/v1/state", "/admin/v1/faults/x", "/admin/v1/namespaces/a/metrics/b",
		"/admin/v1/", "/admin/v1/namespaces/../metrics/x", "//apis", "/apis/../apis", "/%2e%2e/", "/\x00", "/admin/v1/faults/",
	} {
		for _, m := range []string{"GET", "PUT", "DELETE", "POST", "HEAD"} {
			f.Add(m, seed, uint8(0))
		}
	}
	handlers := map[uint8]http.Handler{}
	for i, p := range devserver.Profiles {
		handlers[uint8(2*i)] = handlerFor(f, p, nil)
		handlers[uint8(2*i+1)] = handlerFor(f, p, map[string][]string{"tok": {"default"}})
	}
	f.Fuzz(func(t *testing.T, method, target string, which uint8) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			method = "GET"
		}
		path, rawQuery, _ := strings.Cut(target, "?")
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
		req := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: rawQuery}, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		req.Header.Set("Authorization", "Bearer tok")
		if method == "PUT" {
			req.Body = http.NoBody
		}
		req = req.WithContext(t.Context())
		rec := httptest.NewRecorder()
		handlers[which%uint8(len(handlers))].ServeHTTP(rec, req)
		checkAnswer(t, req, rec)
	})
}

func FuzzSelector(f *testing.F) {
	for _, seed := range []string{"", "app=web", "app==web", "app!=web", "env in (prod,canary)", "env notin (prod)", "!team",
		"team", "app=web,!team", "a in (", "a=b=c", "=", "!", "a,", "x in ()", "k8s.io/x=y", strings.Repeat("a", 300) + "=b",
		"app=web\x00", "app in (a,b", "a>1", "a<2", "a=%zz"} {
		f.Add(seed)
	}
	handlers := make([]http.Handler, 0, len(devserver.Profiles))
	for _, p := range devserver.Profiles {
		handlers = append(handlers, handlerFor(f, p, nil))
	}
	f.Fuzz(func(t *testing.T, sel string) {
		for i, h := range handlers {
			metric := "http_requests"
			if devserver.Profiles[i] == devserver.ProfileDatadog {
				metric = "datadogmetric@default:checkout-error-rate"
			}
			for _, q := range []string{"labelSelector=" + url.QueryEscape(sel), "labelSelector=" + sel} {
				req := &http.Request{Method: "GET", URL: &url.URL{Path: "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/" + metric, RawQuery: q}, Header: http.Header{}}
				req = req.WithContext(t.Context())
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				checkAnswer(t, req, rec)
				if rec.Code != 200 && rec.Code != 400 {
					t.Fatalf("%s selector %q: code %d %s", devserver.Profiles[i], sel, rec.Code, rec.Body)
				}
			}
		}
	})
}
