package cmatest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestParity sends the same requests to the real custom-metrics-apiserver
// and to our devserver's cma profile, holding the same series, and
// compares the answers.
func TestParity(t *testing.T) {
	cma, dev, cmaSrv, _ := servers(t)
	t.Logf("custom-metrics-apiserver ready in %s", cmaSrv.StartupTime())

	t.Run("discovery", func(t *testing.T) { testDiscovery(t, cma, dev) })
	t.Run("list", func(t *testing.T) { testLists(t, cma, dev) })
	t.Run("status", func(t *testing.T) { testStatuses(t, cma, dev) })
}

func testDiscovery(t *testing.T, cma, dev target) {
	t.Run("/apis", func(t *testing.T) {
		for _, tg := range []target{cma, dev} {
			a := tg.get(t, "/apis")
			var gl metav1.APIGroupList
			if a.code != http.StatusOK || json.Unmarshal(a.body, &gl) != nil {
				t.Fatalf("%s: want an APIGroupList, got %s", tg.name, a)
			}
			if gl.Kind != "APIGroupList" {
				t.Errorf("%s: kind %q, want APIGroupList", tg.name, gl.Kind)
			}
			var found bool
			for _, g := range gl.Groups {
				if g.Name != "external.metrics.k8s.io" {
					continue
				}
				found = true
				want := metav1.GroupVersionForDiscovery{GroupVersion: "external.metrics.k8s.io/v1beta1", Version: "v1beta1"}
				if g.PreferredVersion != want || len(g.Versions) != 1 || g.Versions[0] != want {
					t.Errorf("%s: group %+v, want exactly v1beta1, preferred", tg.name, g)
				}
			}
			if !found {
				t.Errorf("%s: /apis does not list external.metrics.k8s.io: %s", tg.name, a)
			}
		}
	})

	t.Run("/apis/external.metrics.k8s.io", func(t *testing.T) {
		var groups [2]metav1.APIGroup
		for i, tg := range []target{cma, dev} {
			a := tg.get(t, "/apis/external.metrics.k8s.io")
			if a.code != http.StatusOK || json.Unmarshal(a.body, &groups[i]) != nil {
				t.Fatalf("%s: want an APIGroup, got %s", tg.name, a)
			}
		}
		if groups[0].Kind != groups[1].Kind || groups[0].Name != groups[1].Name ||
			groups[0].PreferredVersion != groups[1].PreferredVersion || !slices.Equal(groups[0].Versions, groups[1].Versions) {
			t.Errorf("APIGroup differs:\ncma:       %+v\ndevserver: %+v", groups[0], groups[1])
		}
	})

	t.Run("resource list", func(t *testing.T) {
		var lists [2]metav1.APIResourceList
		for i, tg := range []target{cma, dev} {
			a := tg.get(t, emPath)
			if a.code != http.StatusOK || json.Unmarshal(a.body, &lists[i]) != nil {
				t.Fatalf("%s: want an APIResourceList, got %s", tg.name, a)
			}
			t.Logf("%s: %s", tg.name, strings.TrimSpace(string(a.body)))
		}
		if lists[0].Kind != lists[1].Kind || lists[0].GroupVersion != lists[1].GroupVersion {
			t.Errorf("kind/groupVersion differ: cma %q %q, devserver %q %q",
				lists[0].Kind, lists[0].GroupVersion, lists[1].Kind, lists[1].GroupVersion)
		}
		// Compare the fields both servers fill; the real one may add
		// singularName, shortNames, storageVersionHash and the like.
		view := func(l metav1.APIResourceList) []string {
			var out []string
			for _, r := range l.APIResources {
				out = append(out, strings.Join([]string{r.Name, boolString(r.Namespaced), r.Kind, strings.Join(r.Verbs, ",")}, "|"))
			}
			slices.Sort(out)
			return out
		}
		want := []string{"http_requests|namespaced|ExternalMetricValueList|get", "queue_depth|namespaced|ExternalMetricValueList|get"}
		if got := view(lists[0]); !slices.Equal(got, want) {
			t.Errorf("cma resources %q, want %q", got, want)
		}
		if got := view(lists[1]); !slices.Equal(got, want) {
			t.Errorf("devserver resources %q, want %q (as the real server)", got, want)
		}
	})

	t.Run("health", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/livez"} {
			for _, tg := range []target{cma, dev} {
				if a := tg.do(t, http.MethodGet, p, noToken); a.code != http.StatusOK || strings.TrimSpace(string(a.body)) != "ok" {
					t.Errorf("%s GET %s without a token: want 200 ok, got %s", tg.name, p, a)
				}
			}
		}
	})

	t.Run("/version", func(t *testing.T) {
		for _, tg := range []target{cma, dev} {
			a := tg.get(t, "/version")
			var v struct {
				Major, Minor, GitVersion, GoVersion, Platform string
			}
			if a.code != http.StatusOK || json.Unmarshal(a.body, &v) != nil || v.GitVersion == "" || v.GoVersion == "" || v.Platform == "" {
				t.Errorf("%s: want version info, got %s", tg.name, a)
			}
		}
	})
}

func boolString(b bool) string {
	if b {
		return "namespaced"
	}
	return "cluster"
}

func testLists(t *testing.T, cma, dev target) {
	cases := []struct {
		name     string
		ns       string
		metric   string
		selector string // raw, URL-encoded by the test
		want     []string
	}{
		{"no selector", "default", "http_requests", "", []string{
			"http_requests|app=api,env=prod,tier=backend|3",
			"http_requests|app=web,env=canary|2",
			"http_requests|app=web,env=prod|1500m",
		}},
		{"equality", "default", "http_requests", "env=prod", []string{
			"http_requests|app=api,env=prod,tier=backend|3",
			"http_requests|app=web,env=prod|1500m",
		}},
		{"double equals", "default", "http_requests", "app==web,env=prod", []string{"http_requests|app=web,env=prod|1500m"}},
		{"inequality", "default", "http_requests", "env!=prod", []string{"http_requests|app=web,env=canary|2"}},
		{"in", "default", "http_requests", "env in (canary,staging)", []string{"http_requests|app=web,env=canary|2"}},
		{"notin", "default", "http_requests", "app notin (api)", []string{
			"http_requests|app=web,env=canary|2",
			"http_requests|app=web,env=prod|1500m",
		}},
		{"exists", "default", "http_requests", "tier", []string{"http_requests|app=api,env=prod,tier=backend|3"}},
		{"not exists", "default", "http_requests", "!tier,env=prod", []string{"http_requests|app=web,env=prod|1500m"}},
		{"no match", "default", "http_requests", "env=nowhere", nil},
		{"other namespace", "other", "http_requests", "", []string{"http_requests|app=web,env=prod|7"}},
		{"no labels", "default", "queue_depth", "", []string{"queue_depth||42"}},
		{"no labels, selector", "default", "queue_depth", "app=web", nil},
		{"unknown metric", "default", "no_such_metric", "", nil},
		{"unknown metric, selector", "default", "no_such_metric", "app=web", nil},
		{"unknown namespace", "nowhere", "http_requests", "", nil},
		{"metric in another namespace only", "other", "queue_depth", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := emPath + "/namespaces/" + c.ns + "/" + c.metric
			if c.selector != "" {
				path += "?labelSelector=" + url.QueryEscape(c.selector)
			}
			rv := decodeList(t, "cma", cma.get(t, path))
			dv := decodeList(t, "devserver", dev.get(t, path))
			if !slices.Equal(rv.items, c.want) {
				t.Errorf("cma items %q, want %q", rv.items, c.want)
			}
			if !slices.Equal(dv.items, rv.items) {
				t.Errorf("items differ:\ncma:       %q\ndevserver: %q", rv.items, dv.items)
			}
			if rv.kind != "ExternalMetricValueList" || rv.apiVersion != "external.metrics.k8s.io/v1beta1" {
				t.Errorf("cma kind/apiVersion %q %q", rv.kind, rv.apiVersion)
			}
			if dv.kind != rv.kind || dv.apiVersion != rv.apiVersion {
				t.Errorf("kind/apiVersion differ: cma %q %q, devserver %q %q", rv.kind, rv.apiVersion, dv.kind, dv.apiVersion)
			}
			if !slices.Equal(dv.topKeys, rv.topKeys) {
				t.Errorf("top-level fields differ: cma %q, devserver %q", rv.topKeys, dv.topKeys)
			}
			if !slices.Equal(dv.itemKeys, rv.itemKeys) {
				t.Errorf("item fields differ: cma %q, devserver %q", rv.itemKeys, dv.itemKeys)
			}
			if len(rv.items) > 0 && !slices.Equal(rv.itemKeys, []string{"metricLabels", "metricName", "timestamp", "value"}) {
				t.Errorf("cma item fields %q", rv.itemKeys)
			}
			checkTimestamps(t, "cma", rv.timestamps)
			checkTimestamps(t, "devserver", dv.timestamps)
		})
	}

	// The same selector, written the ways clients send it.
	t.Run("selector encodings", func(t *testing.T) {
		for _, q := range []string{
			"labelSelector=env%3Dprod%2Capp%3Dweb",
			"labelSelector=env=prod,app=web",
			"labelSelector=env+in+(prod),app=web",
			"labelSelector=env%20in%20%28prod%29%2Capp%3Dweb",
			"labelSelector=app%3Dweb&labelSelector=env%3Dcanary", // first value wins
		} {
			path := emPath + "/namespaces/default/http_requests?" + q
			rv := decodeList(t, "cma "+q, cma.get(t, path))
			dv := decodeList(t, "devserver "+q, dev.get(t, path))
			if !slices.Equal(dv.items, rv.items) || len(rv.items) != 1 {
				t.Errorf("%s: cma %q, devserver %q", q, rv.items, dv.items)
			}
		}
	})
}

// statusCase is a request whose answer is compared by status code and, when
// the body is a metav1.Status, by reason.
type statusCase struct {
	name   string
	method string
	path   string
	auth   authMode
}

func testStatuses(t *testing.T, cma, dev target) {
	ns := emPath + "/namespaces/"
	cases := []statusCase{
		// (d) malformed selectors
		{"selector triple equals", "GET", ns + "default/http_requests?labelSelector=app%3D%3D%3Dx", withToken},
		{"selector unclosed in", "GET", ns + "default/http_requests?labelSelector=app+in+(", withToken},
		{"selector bad escape", "GET", ns + "default/http_requests?labelSelector=%zz", withToken},
		{"selector three words", "GET", ns + "default/http_requests?labelSelector=a%20b%20c", withToken},
		{"selector bad key", "GET", ns + "default/http_requests?labelSelector=-bad%3Dx", withToken},
		{"selector bad value", "GET", ns + "default/http_requests?labelSelector=app%3D%24x", withToken},
		// (e) path shapes
		{"namespace without metric", "GET", ns + "default", withToken},
		{"namespace slash", "GET", ns + "default/", withToken},
		{"namespaces only", "GET", ns, withToken},
		{"empty namespace", "GET", ns + "/http_requests", withToken},
		{"extra segment", "GET", ns + "default/http_requests/extra", withToken},
		{"metric without namespace", "GET", emPath + "/http_requests", withToken},
		{"unknown version", "GET", "/apis/external.metrics.k8s.io/v2", withToken},
		{"unknown group", "GET", "/apis/custom.metrics.k8s.io", withToken},
		{"unknown root path", "GET", "/nope", withToken},
		{"namespace not a DNS label", "GET", ns + "Not_A_Namespace/http_requests", withToken},
		// methods
		{"POST list", "POST", ns + "default/http_requests", withToken},
		{"DELETE list", "DELETE", ns + "default/http_requests", withToken},
		// authentication
		{"no token", "GET", ns + "default/http_requests", noToken},
		{"wrong token", "GET", ns + "default/http_requests", wrongToken},
		{"no token, discovery", "GET", emPath, noToken},
		{"wrong token, discovery", "GET", emPath, wrongToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ra := cma.do(t, c.method, c.path, c.auth)
			da := dev.do(t, c.method, c.path, c.auth)
			t.Logf("cma:       %s", ra)
			t.Logf("devserver: %s", da)
			rs, rok := status(ra)
			ds, dok := status(da)
			if ra.code != da.code {
				t.Errorf("%s %s: status code: cma %d, devserver %d", c.method, c.path, ra.code, da.code)
			}
			if rok != dok {
				t.Errorf("%s %s: Status body: cma %v, devserver %v", c.method, c.path, rok, dok)
			}
			if rok && dok && (rs.Reason != ds.Reason || rs.Code != ds.Code) {
				t.Errorf("%s %s: Status reason/code: cma %q/%d, devserver %q/%d", c.method, c.path, rs.Reason, rs.Code, ds.Reason, ds.Code)
			}
		})
	}
}
