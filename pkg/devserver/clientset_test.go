package devserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	externalclient "k8s.io/metrics/pkg/client/external_metrics"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

func clientset(t *testing.T, s *devserver.Server, token string) externalclient.ExternalMetricsClient {
	t.Helper()
	c, err := externalclient.NewForConfig(devservertest.RESTConfig(s, token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// values lists "labels=value" of every item, sorted.
func listValues(t *testing.T, c externalclient.ExternalMetricsClient, ns, metric, selector string) ([]string, error) {
	t.Helper()
	sel := labels.Everything()
	if selector != "" {
		var err error
		if sel, err = labels.Parse(selector); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.NamespacedMetrics(ns).List(metric, sel)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range list.Items {
		if it.MetricName != metric && !strings.EqualFold(it.MetricName, metric) {
			t.Errorf("item metricName %q, want %q", it.MetricName, metric)
		}
		if it.Timestamp.IsZero() {
			t.Errorf("item without timestamp: %+v", it)
		}
		out = append(out, labels.Set(it.MetricLabels).String()+"="+it.Value.String())
	}
	slices.Sort(out)
	return out, nil
}

func TestClientsetSelectors(t *testing.T) {
	for _, profile := range []string{devserver.ProfilePrometheusAdapter, devserver.ProfileCMA} {
		t.Run(profile, func(t *testing.T) {
			s := devservertest.New(t, devserver.Config{Profile: profile, Scenario: testScenario()})
			c := clientset(t, s, devservertest.Token)
			cases := []struct {
				selector string
				want     []string
			}{
				{"", []string{"app=api,env=prod=42", "app=web,env=canary,team=x=3", "app=web,env=prod=1500m"}},
				{"env=prod", []string{"app=api,env=prod=42", "app=web,env=prod=1500m"}},
				{"app=web,env=prod", []string{"app=web,env=prod=1500m"}},
				{"env!=prod", []string{"app=web,env=canary,team=x=3"}},
				{"env in (canary,staging)", []string{"app=web,env=canary,team=x=3"}},
				{"app notin (api)", []string{"app=web,env=canary,team=x=3", "app=web,env=prod=1500m"}},
				{"!team", []string{"app=api,env=prod=42", "app=web,env=prod=1500m"}},
				{"team", []string{"app=web,env=canary,team=x=3"}},
				{"app=nothing", nil},
			}
			for _, tc := range cases {
				got, err := listValues(t, c, "default", "http_requests", tc.selector)
				if err != nil {
					t.Fatalf("selector %q: %v", tc.selector, err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("selector %q: got %q, want %q", tc.selector, got, tc.want)
				}
			}
			// Names compare exactly, as the real servers' providers do
			// (client-go lowercases resource names, so raw requests here);
			// an empty namespace means all of them.
			r := do(t, s, "GET", nsPath+"default/HTTP_Requests", devservertest.Token, "")
			switch {
			case profile == devserver.ProfileCMA && (r.code != 200 || !strings.Contains(string(r.body), `"items":[]`)):
				t.Errorf("cma upper-case name: %d %s", r.code, r.body)
			case profile == devserver.ProfilePrometheusAdapter && r.code != 404:
				t.Errorf("prometheus-adapter upper-case name: %d %s", r.code, r.body)
			}
			r = do(t, s, "GET", nsPath+"/queue_depth", devservertest.Token, "")
			if r.code != 200 || !strings.Contains(string(r.body), `"value":"250m"`) {
				t.Errorf("empty namespace: %d %s", r.code, r.body)
			}
			if got, err := listValues(t, c, "team-a", "queue_depth", ""); err != nil || !slices.Equal(got, []string{"=250m"}) {
				t.Errorf("team-a queue_depth: %q, %v", got, err)
			}

			// Unknown metric, and a metric known only in another namespace.
			for _, q := range [][2]string{{"default", "no_such_metric"}, {"default", "queue_depth"}} {
				got, err := listValues(t, c, q[0], q[1], "")
				switch profile {
				case devserver.ProfilePrometheusAdapter:
					if !apierrors.IsNotFound(err) {
						t.Errorf("%s/%s: want NotFound, got %q, %v", q[0], q[1], got, err)
					} else if !strings.Contains(err.Error(), q[1]) {
						t.Errorf("NotFound message does not name the metric: %v", err)
					}
				case devserver.ProfileCMA:
					if err != nil || len(got) != 0 {
						t.Errorf("%s/%s: want an empty list, got %q, %v", q[0], q[1], got, err)
					}
				}
			}
		})
	}
}

func TestClientsetDatadog(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Profile: devserver.ProfileDatadog, Scenario: testScenario()})
	c := clientset(t, s, devservertest.Token)
	const name = "datadogmetric@default:checkout-error-rate"
	for _, q := range []struct{ ns, metric, selector string }{
		{"default", name, ""},
		{"other-namespace", name, ""},                                // URL namespace ignored
		{"default", name, "ignored=no"},                              // selector ignored
		{"default", "DatadogMetric@Default:Checkout-Error-Rate", ""}, // matched lowercased
	} {
		list, err := c.NamespacedMetrics(q.ns).List(q.metric, mustSelector(t, q.selector))
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if len(list.Items) != 1 {
			t.Fatalf("%+v: want exactly one item, got %+v", q, list.Items)
		}
		it := list.Items[0]
		if it.MetricName != name || it.MetricLabels != nil || it.Value.String() != "125m" {
			t.Errorf("%+v: item %+v (labels %#v)", q, it, it.MetricLabels)
		}
	}
	for _, q := range []struct{ metric, msg string }{
		{"datadogmetric@default:nope", "Internal error occurred: DatadogMetric not found for metric name: datadogmetric@default:nope, datadogmetricid: default/nope"},
		{"http_requests", "Internal error occurred: DatadogMetric not found for metric name: http_requests"},
		{"datadogmetric@nonamespace", "Internal error occurred: ExternalMetric does not follow DatadogMetric format: datadogmetric@nonamespace"},
	} {
		_, err := c.NamespacedMetrics("default").List(q.metric, labels.Everything())
		if !apierrors.IsInternalError(err) {
			t.Fatalf("%s: want InternalError, got %v", q.metric, err)
		}
		st := err.(apierrors.APIStatus).Status()
		if st.Code != 500 || st.Message != q.msg {
			t.Errorf("%s: got %d %q, want 500 %q", q.metric, st.Code, st.Message, q.msg)
		}
	}
}

func mustSelector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestClientsetAuth(t *testing.T) {
	for _, profile := range devserver.Profiles {
		t.Run(profile, func(t *testing.T) {
			s := devservertest.New(t, devserver.Config{Profile: profile, Scenario: testScenario(), Tokens: map[string][]string{
				"all-token":    {"*"},
				"team-a-token": {"team-a"},
			}})
			metric := "http_requests"
			if profile == devserver.ProfileDatadog {
				metric = "datadogmetric@default:checkout-error-rate"
			}
			for _, tok := range []string{"", "wrong-token", "all-token-but-longer"} {
				_, err := clientset(t, s, tok).NamespacedMetrics("default").List(metric, labels.Everything())
				if !apierrors.IsUnauthorized(err) {
					t.Errorf("token %q: want Unauthorized, got %v", tok, err)
				}
			}
			_, err := clientset(t, s, "team-a-token").NamespacedMetrics("default").List(metric, labels.Everything())
			if !apierrors.IsForbidden(err) {
				t.Errorf("team-a token in default: want Forbidden, got %v", err)
			} else if strings.Contains(err.Error(), "team-a-token") {
				t.Errorf("Forbidden message leaks the token: %v", err)
			}
			if _, err := clientset(t, s, "all-token").NamespacedMetrics("default").List(metric, labels.Everything()); err != nil {
				t.Errorf("all-token: %v", err)
			}
			if profile != devserver.ProfileDatadog {
				if _, err := clientset(t, s, "team-a-token").NamespacedMetrics("team-a").List("queue_depth", labels.Everything()); err != nil {
					t.Errorf("team-a token in team-a: %v", err)
				}
			}
		})
	}
}

func TestBadSelector(t *testing.T) {
	for _, profile := range devserver.Profiles {
		s := devservertest.New(t, devserver.Config{Profile: profile, Scenario: testScenario()})
		for _, q := range []string{"labelSelector=app%3D%3D%3Dx", "labelSelector=app+in+(", "labelSelector=a%20b%20c", "labelSelector=%zz&labelSelector=a%3D%3D%3Db"} {
			r := do(t, s, "GET", nsPath+"default/http_requests?"+q, devservertest.Token, "")
			if r.code != 400 {
				t.Fatalf("%s %s: got %d %s", profile, q, r.code, r.body)
			}
			if st := r.status(t); st.Reason != "BadRequest" {
				t.Errorf("%s %s: reason %q", profile, q, st.Reason)
			}
		}
		// As kube-apiserver (url.ParseQuery): a pair that does not unescape
		// is dropped, so the request has no selector.
		if r := do(t, s, "GET", nsPath+"default/http_requests?labelSelector=%zz", devservertest.Token, ""); profile != devserver.ProfileDatadog && (r.code != 200 || strings.Count(string(r.body), `"metricName"`) != 3) {
			t.Errorf("%s badly escaped selector: %d %s", profile, r.code, r.body)
		}
	}
}

func TestDiscoveryClient(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	dc, err := discovery.NewDiscoveryClientForConfig(devservertest.RESTConfig(s, devservertest.Token))
	if err != nil {
		t.Fatal(err)
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, g := range groups.Groups {
		if g.Name == devserver.GroupName && g.PreferredVersion.GroupVersion == devserver.GroupVersion {
			found = true
		}
	}
	if !found {
		t.Fatalf("group not discovered: %+v", groups)
	}
	res, err := dc.ServerResourcesForGroupVersion(devserver.GroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res.APIResources {
		if !r.Namespaced || r.Kind != "ExternalMetricValueList" || !slices.Equal(r.Verbs, []string{"get"}) {
			t.Errorf("resource %+v", r)
		}
		names = append(names, r.Name)
	}
	want := []string{"datadogmetric@default:checkout-error-rate", "http_requests", "queue_depth"}
	if !slices.Equal(names, want) {
		t.Errorf("resources %q, want %q", names, want)
	}
	v, err := dc.ServerVersion()
	if err != nil || v.Major != "1" || v.GitVersion == "" {
		t.Errorf("version %+v, %v", v, err)
	}
	_, all, err := dc.ServerGroupsAndResources()
	if err != nil || len(all) == 0 {
		t.Errorf("ServerGroupsAndResources: %v", err)
	}
	_ = context.Background()
}

// rawSelector makes the clientset send a selector string as is, malformed or not.
type rawSelector struct {
	labels.Selector
	s string
}

func (r rawSelector) String() string { return r.s }

func TestClientsetBadRequest(t *testing.T) {
	for _, profile := range devserver.Profiles {
		s := devservertest.New(t, devserver.Config{Profile: profile, Scenario: testScenario()})
		c := clientset(t, s, devservertest.Token)
		for _, bad := range []string{"app in (", "a=b=c", "!", "x notin"} {
			_, err := c.NamespacedMetrics("default").List("http_requests", rawSelector{labels.Everything(), bad})
			if !apierrors.IsBadRequest(err) {
				t.Errorf("%s %q: want BadRequest, got %v", profile, bad, err)
			}
		}
	}
}
