package cmatest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/extmetrics/extmetrics/internal/cmatest"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

const emPath = "/apis/external.metrics.k8s.io/v1beta1"

// fixture is one series set on both servers.
type fixture struct {
	ns, metric string
	labels     map[string]string
	value      string
}

var fixtures = []fixture{
	{"default", "http_requests", map[string]string{"app": "web", "env": "prod"}, "1500m"},
	{"default", "http_requests", map[string]string{"app": "web", "env": "canary"}, "2"},
	{"default", "http_requests", map[string]string{"app": "api", "env": "prod", "tier": "backend"}, "3"},
	{"other", "http_requests", map[string]string{"app": "web", "env": "prod"}, "7"},
	{"default", "queue_depth", nil, "42"},
}

// target is one server under test, reached over HTTPS with its CA.
type target struct {
	name   string
	url    string
	token  string
	client *http.Client
}

// servers starts the real CMA server and our devserver (cma profile) with
// the same series.
func servers(t *testing.T) (cma, dev target, cmaSrv *cmatest.Server, devSrv *devserver.Server) {
	t.Helper()
	cmaSrv = cmatest.Start(t)
	began := time.Now()
	devSrv = devservertest.New(t, devserver.Config{Profile: devserver.ProfileCMA})
	t.Logf("ready in: custom-metrics-apiserver %s (certificates, options, generic apiserver, /readyz), devserver %s",
		cmaSrv.StartupTime().Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	for _, f := range fixtures {
		cmaSrv.SetSeries(f.ns, f.metric, f.labels, resource.MustParse(f.value))
		if err := devSrv.SetSeries(f.ns, f.metric, f.labels, f.value); err != nil {
			t.Fatalf("devserver SetSeries: %v", err)
		}
	}
	cma = target{name: "cma", url: cmaSrv.URL(), token: cmatest.Token, client: cmaSrv.HTTPClient()}
	dev = target{name: "devserver", url: devSrv.URL(), token: devservertest.Token, client: devservertest.HTTPClient(devSrv)}
	t.Cleanup(cma.client.CloseIdleConnections)
	t.Cleanup(dev.client.CloseIdleConnections)
	return cma, dev, cmaSrv, devSrv
}

// answer is one HTTP response.
type answer struct {
	code        int
	contentType string
	body        []byte
}

func (a answer) String() string {
	b := string(a.body)
	if len(b) > 400 {
		b = b[:400] + "..."
	}
	return fmt.Sprintf("%d %s %s", a.code, a.contentType, strings.TrimSpace(b))
}

type authMode int

const (
	withToken authMode = iota
	noToken
	wrongToken
)

func (tg target) do(t *testing.T, method, path string, auth authMode) answer {
	t.Helper()
	return tg.doAccept(t, method, path, auth, "application/json")
}

func (tg target) doAccept(t *testing.T, method, path string, auth authMode, accept string) answer {
	t.Helper()
	req, err := http.NewRequest(method, tg.url+path, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	switch auth {
	case withToken:
		req.Header.Set("Authorization", "Bearer "+tg.token)
	case wrongToken:
		req.Header.Set("Authorization", "Bearer not-the-token")
	}
	req.Header.Set("Accept", accept)
	resp, err := tg.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", tg.name, method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s %s: read body: %v", tg.name, method, path, err)
	}
	return answer{code: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: body}
}

func (tg target) get(t *testing.T, path string) answer {
	t.Helper()
	return tg.do(t, http.MethodGet, path, withToken)
}

// status decodes a metav1.Status body; ok is false when the body is not one.
func status(a answer) (st metav1.Status, ok bool) {
	if err := json.Unmarshal(a.body, &st); err != nil || st.Kind != "Status" {
		return st, false
	}
	return st, true
}

// listView is the part of an ExternalMetricValueList body the parity tests
// compare, read from the raw JSON so field names are checked too.
type listView struct {
	kind, apiVersion string
	topKeys          []string
	items            []string // "metricName|k=v,...|value", sorted
	itemKeys         []string // union of the items' field names, sorted
	timestamps       []string
}

func decodeList(t *testing.T, who string, a answer) listView {
	t.Helper()
	if a.code != http.StatusOK {
		t.Fatalf("%s: want 200, got %s", who, a)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &raw); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v: %s", who, err, a)
	}
	var v listView
	for k := range raw {
		v.topKeys = append(v.topKeys, k)
	}
	sort.Strings(v.topKeys)
	_ = json.Unmarshal(raw["kind"], &v.kind)
	_ = json.Unmarshal(raw["apiVersion"], &v.apiVersion)
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw["items"], &items); err != nil {
		t.Fatalf("%s: items: %v: %s", who, err, a)
	}
	if items == nil {
		t.Errorf("%s: items is %s, want a JSON array", who, raw["items"])
	}
	keys := map[string]bool{}
	for _, it := range items {
		for k := range it {
			keys[k] = true
		}
		var name, value, ts string
		var lbls map[string]string
		_ = json.Unmarshal(it["metricName"], &name)
		_ = json.Unmarshal(it["value"], &value)
		_ = json.Unmarshal(it["timestamp"], &ts)
		_ = json.Unmarshal(it["metricLabels"], &lbls)
		v.items = append(v.items, name+"|"+labelString(lbls)+"|"+value)
		v.timestamps = append(v.timestamps, ts)
	}
	for k := range keys {
		v.itemKeys = append(v.itemKeys, k)
	}
	sort.Strings(v.itemKeys)
	sort.Strings(v.items)
	return v
}

func labelString(m map[string]string) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// checkTimestamps asserts RFC 3339 timestamps in UTC with whole seconds
// (metav1.Time's encoding) close to now.
func checkTimestamps(t *testing.T, who string, ts []string) {
	t.Helper()
	for _, s := range ts {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil || !strings.HasSuffix(s, "Z") || strings.Contains(s, ".") {
			t.Errorf("%s: timestamp %q is not metav1.Time's RFC 3339 UTC form (%v)", who, s, err)
			continue
		}
		if d := time.Since(tm); d < -time.Minute || d > 5*time.Minute {
			t.Errorf("%s: timestamp %q is %s from now", who, s, d)
		}
	}
}
