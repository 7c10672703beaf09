package devserver

import (
	"encoding/json"
	"math"
	"net/url"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"

	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// checkJSONString checks that appendJSONString(s) is a JSON string that
// decodes to what encoding/json's encoding of s decodes to (invalid UTF-8
// becomes U+FFFD) and, like encoding/json, escapes < > & U+2028 U+2029 and
// control characters. The bytes may differ: Go 1.22+ encoding/json writes
// \b and \f where appendJSONString writes \u0008 and \u000c, both valid.
func checkJSONString(t *testing.T, s string) {
	t.Helper()
	got := appendJSONString(nil, s)
	want, _ := json.Marshal(s)
	var g, w string
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%q: %s is not a JSON string: %v", s, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if g != w {
		t.Errorf("%q: got %s (%q), want %s (%q)", s, got, g, want, w)
	}
	for _, r := range string(got[1 : len(got)-1]) {
		if r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' {
			t.Errorf("%q: %s holds %q unescaped", s, got, r)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " backslash \ slash /`, "<html>&amp;", "tab\tnl\ncr\r\x00\x1f\x7f",
		"héllo wörld ✓", "\u2028\u2029", "bad utf8 \xff\xfe end", "\xc3", "emoji 😀", "\b\f"} {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"b\\c<d>&\u2028\xff")
	f.Add("\b\f")
	f.Fuzz(func(t *testing.T, s string) { checkJSONString(t, s) })
}

// TestListEncodingMatchesTypes checks the hand-written list against
// encoding/json on the k8s.io/metrics types: same JSON value, field for field.
func TestListEncodingMatchesTypes(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600))
	window := int64(90)
	items := []item{
		{name: "http_requests", labels: map[string]string{"b": "2", "a": "<1>", "z": "é\"\\"}, ts: ts, window: &window, value: 1.5},
		{name: "x", labels: map[string]string{}, ts: ts, value: -0.001},
		{name: "datadogmetric@ns:name", nullLabel: true, ts: ts, value: 1e12},
		{name: "n", labels: map[string]string{"k": "v"}, ts: ts, value: 0.0004},
		{name: "big", labels: map[string]string{}, ts: ts, value: math.Inf(1)},
	}
	e := getEncoder()
	defer putEncoder(e)
	e.appendListHead()
	list := v1beta1.ExternalMetricValueList{TypeMeta: metav1.TypeMeta{Kind: "ExternalMetricValueList", APIVersion: GroupVersion}, Items: []v1beta1.ExternalMetricValue{}}
	for i, it := range items {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.appendItem(it)
		v := v1beta1.ExternalMetricValue{MetricName: it.name, Timestamp: metav1.NewTime(it.ts), WindowSeconds: it.window, Value: *scenario.Quantity(it.value)}
		if !it.nullLabel {
			v.MetricLabels = it.labels
		}
		list.Items = append(list.Items, v)
	}
	e.appendListTail()
	want, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	if err := json.Unmarshal(e.buf, &gotV); err != nil {
		t.Fatalf("hand-written list is not JSON: %v\n%s", err, e.buf)
	}
	json.Unmarshal(want, &wantV)
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("got  %s\nwant %s", e.buf, want)
	}
	// And it decodes into the typed list.
	var back v1beta1.ExternalMetricValueList
	if err := json.Unmarshal(e.buf, &back); err != nil || back.Items[0].Value.String() != "1500m" || back.Items[2].MetricLabels != nil {
		t.Errorf("typed decode: %v %+v", err, back)
	}
}

func TestQueryParam(t *testing.T) {
	for _, tc := range []struct {
		raw, escaped, want string
		found              bool
	}{
		{"", "", "", false},
		{"labelSelector=a%3Db", "a%3Db", "a=b", true},
		{"x=1&labelSelector=a+in+(b)&labelSelector=second", "a+in+(b)", "a in (b)", true},
		{"label%53elector=x", "x", "x", true},
		{"labelSelector", "", "", true},
		{"labelSelectorX=1", "", "", false},
		// As url.ParseQuery: bad pairs are dropped, the next one counts.
		{"labelSelector=%zz", "", "", false},
		{"labelSelector=%zz&labelSelector=a%3Db", "a%3Db", "a=b", true},
		{"labelSelector=a;b", "", "", false},
		{"label%zzSelector=x&labelSelector=y", "y", "y", true},
	} {
		escaped, got, found := queryParam(tc.raw, "labelSelector")
		if escaped != tc.escaped || got != tc.want || found != tc.found {
			t.Errorf("%q: %q %q %v; want %q %q %v", tc.raw, escaped, got, found, tc.escaped, tc.want, tc.found)
		}
		want := url.Values{}
		if v, err := url.ParseQuery(tc.raw); err == nil || len(v) > 0 {
			want = v
		}
		if got != want.Get("labelSelector") {
			t.Errorf("%q: %q, url.ParseQuery says %q", tc.raw, got, want.Get("labelSelector"))
		}
	}
}
