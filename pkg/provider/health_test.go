package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestHealthOnline(t *testing.T) {
	fs := newFakeServer(t, nil)
	p := newTestProvider(t, fs, Options{})
	hr, err := p.Health(context.Background())
	if err != nil || !hr.Online || hr.GroupVersion != GroupVersion || hr.Latency <= 0 || hr.Conn.Auth.Method == "" || hr.Conn.Auth.String() == "" || hr.Server != fs.URL {
		t.Fatalf("%+v %v", hr, err)
	}
	if ok, err := p.IsOnline(); !ok || err != nil {
		t.Fatalf("IsOnline = %v, %v", ok, err)
	}
	if fs.hitCount() != 0 {
		t.Fatal("health must not query a metric")
	}
}

func TestHealthOffline(t *testing.T) {
	// Group not served.
	fs := newFakeServer(t, nil)
	fs.noGroup = true
	p := newTestProvider(t, fs, Options{})
	ok, err := p.IsOnline()
	if ok || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "does not serve external.metrics.k8s.io") || !strings.Contains(err.Error(), "apps") {
		t.Fatalf("no group: %v %v", ok, err)
	}

	// 401.
	srv := newFakeServer(t, nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { statusHandler(401, "Unauthorized")(w, r) })
	p = newTestProvider(t, srv, Options{})
	if ok, err := p.IsOnline(); ok || !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("401: %v %v", ok, err)
	}

	// Server down.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	p, _ = New(nil, Spec{Address: "https://" + addr, InsecureSkipVerify: true}, Options{RetryBackoff: 1e6})
	if ok, err := p.IsOnline(); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down: %v %v", ok, err)
	}

	// A server without /apis but with the group document is online.
	srv = newFakeServer(t, nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/apis/external.metrics.k8s.io" {
			w.Write([]byte(`{"kind":"APIGroup","name":"external.metrics.k8s.io","versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}]}`))
			return
		}
		if r.URL.Path == "/apis/external.metrics.k8s.io/v1beta1" {
			w.Write([]byte(`{"kind":"APIResourceList","groupVersion":"external.metrics.k8s.io/v1beta1","resources":[]}`))
			return
		}
		statusHandler(404, "not found")(w, r)
	})
	p = newTestProvider(t, srv, Options{})
	if ok, err := p.IsOnline(); !ok || err != nil {
		t.Fatalf("group-only discovery: %v %v", ok, err)
	}
	// ... and one serving neither is offline.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { statusHandler(404, "not found")(w, r) })
	if ok, err := p.IsOnline(); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("nothing served: %v %v", ok, err)
	}
}

func TestList(t *testing.T) {
	fs := newFakeServer(t, nil)
	p := newTestProvider(t, fs, Options{})
	names, err := p.List(context.Background())
	if err != nil || !reflect.DeepEqual(names, []string{"errors", "requests"}) {
		t.Fatalf("%v %v", names, err)
	}
	fs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { statusHandler(404, "not found")(w, r) })
	if _, err := p.List(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("404 list: %v", err)
	}
}

// TestHealthBackendDown: a kube-apiserver lists the group itself but
// answers 503 for its resource list when the APIService's backend is down;
// that is offline, with the APIService's condition as the reason.
func TestHealthBackendDown(t *testing.T) {
	srv := newFakeServer(t, nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/apis":
			w.Write([]byte(`{"kind":"APIGroupList","groups":[{"name":"apiregistration.k8s.io","versions":[{"groupVersion":"apiregistration.k8s.io/v1","version":"v1"}]},{"name":"external.metrics.k8s.io","versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}]}]}`))
		case "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io":
			w.Write([]byte(`{"kind":"APIService","status":{"conditions":[{"type":"Available","status":"False","reason":"FailedDiscoveryCheck","message":"failing or missing response from https://localhost:1/apis/external.metrics.k8s.io/v1beta1: connection refused"}]}}`))
		default:
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		}
	})
	p := newTestProvider(t, srv, Options{MaxRetries: -1})
	hr, err := p.Health(context.Background())
	if hr.Online || !hr.KubeAPIServer || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%+v %v", hr, err)
	}
	for _, want := range []string{"cannot reach the backend of APIService v1beta1.external.metrics.k8s.io", "Available=False: FailedDiscoveryCheck", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error without %q: %v", want, err)
		}
	}
	if fs := srv; fs.hitCount() != 0 {
		t.Error("health must not query a metric")
	}
}
