package cmatest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/extmetrics/extmetrics/internal/cmatest"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

func setFixtures(s *cmatest.Server) {
	for _, f := range fixtures {
		s.SetSeries(f.ns, f.metric, f.labels, resource.MustParse(f.value))
	}
}

func newProvider(t *testing.T, s *cmatest.Server, token string) *provider.Provider {
	t.Helper()
	data := map[string][]byte{"ca.crt": s.CAPEM()}
	if token != "" {
		data["token"] = []byte(token)
	}
	p, err := provider.New(nil, provider.Spec{Address: s.URL(), SecretData: data}, provider.Options{Timeout: 30 * time.Second, MaxRetries: -1})
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	return p
}

// TestProviderAgainstCMA proves our provider library against the real
// custom-metrics-apiserver: values, aggregation, typed errors, health and
// discovery.
func TestProviderAgainstCMA(t *testing.T) {
	s := cmatest.Start(t)
	setFixtures(s)
	nf := cmatest.StartWithOptions(t, cmatest.Options{UnknownMetricNotFound: true})
	setFixtures(nf)
	p := newProvider(t, s, cmatest.Token)
	ctx := context.Background()

	values := []struct {
		query   string
		want    float64
		matched int
	}{
		{"default/http_requests?labelSelector=app=web,env=prod", 1.5, 1},
		{"default/http_requests?labelSelector=app%3Dweb%2Cenv%3Dprod", 1.5, 1},
		{"http_requests?labelSelector=env=canary", 2, 1},
		{"/http_requests?labelSelector=tier", 3, 1},
		{"other/http_requests", 7, 1},
		{"default/queue_depth", 42, 1},
		{"default/http_requests?labelSelector=env in (prod,canary)&aggregate=sum", 6.5, 3},
		{"default/http_requests?aggregate=max", 3, 3},
		{"default/http_requests?aggregate=min", 1.5, 3},
		{"default/http_requests?aggregate=count", 3, 3},
		{"default/http_requests?labelSelector=env=prod&aggregate=avg", 2.25, 2},
		// "first" is the first item in the server's order; StaticProvider
		// answers in the order the series were set.
		{"default/http_requests?labelSelector=env=prod&maxAge=5m&aggregate=first", 1.5, 2},
		{"default/http_requests?labelSelector=app!=api&aggregate=sum", 3.5, 2},
	}
	for _, c := range values {
		t.Run(c.query, func(t *testing.T) {
			res, err := p.Query(ctx, c.query)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if res.Value != c.want || res.Matched != c.matched {
				t.Errorf("value %v matched %d, want %v and %d (items %+v)", res.Value, res.Matched, c.want, c.matched, res.Items)
			}
			for _, it := range res.Items {
				if it.Timestamp.IsZero() || time.Since(it.Timestamp) > 5*time.Minute {
					t.Errorf("item timestamp %v", it.Timestamp)
				}
			}
		})
	}

	t.Run("several items without aggregate are ambiguous", func(t *testing.T) {
		_, err := p.Query(ctx, "default/http_requests?labelSelector=env=prod")
		if !errors.Is(err, provider.ErrAmbiguous) || !strings.Contains(err.Error(), "2 items matched") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("first item and quantity", func(t *testing.T) {
		res, err := p.Query(ctx, "default/http_requests?aggregate=first")
		if err != nil {
			t.Fatal(err)
		}
		if res.Aggregate != "first" || res.Value != 1.5 || res.Items[0].Quantity != "1500m" ||
			res.Items[0].MetricName != "http_requests" || res.Items[0].Labels["env"] != "prod" {
			t.Errorf("got %+v", res)
		}
	})

	t.Run("Flagger facade", func(t *testing.T) {
		v, err := p.RunQuery("default/http_requests?labelSelector=env%3Dcanary")
		if err != nil || v != 2 {
			t.Errorf("RunQuery = %v, %v; want 2", v, err)
		}
		v, err = p.RunQuery("default/no_such_metric")
		if !errors.Is(err, provider.ErrNoValuesFound) || v != 0 {
			t.Errorf("RunQuery unknown = %v, %v; want 0 and ErrNoValuesFound", v, err)
		}
	})

	errCases := []struct {
		name  string
		p     *provider.Provider
		query string
		want  error
		code  int
	}{
		{"unknown metric: 200 with no items", p, "default/no_such_metric", provider.ErrNoValuesFound, 200},
		{"unknown namespace", p, "nowhere/http_requests", provider.ErrNoValuesFound, 200},
		{"no match", p, "default/http_requests?labelSelector=env=nowhere", provider.ErrNoValuesFound, 200},
		{"NotFound from the provider (prometheus-adapter style)", newProvider(t, nf, cmatest.Token), "default/no_such_metric", provider.ErrNotFound, 404},
		{"wrong token: 401", newProvider(t, s, "wrong-token"), "default/http_requests", provider.ErrUnauthorized, 401},
		{"no token: anonymous, 403", newProvider(t, s, ""), "default/http_requests", provider.ErrForbidden, 403},
	}
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.p.Query(ctx, c.query)
			if !errors.Is(err, c.want) {
				t.Fatalf("Query = %+v, %v; want %v", res, err, c.want)
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.StatusCode != c.code {
				t.Errorf("error %#v, want status %d", err, c.code)
			}
			if strings.Contains(err.Error(), cmatest.Token) || strings.Contains(err.Error(), "wrong-token") {
				t.Errorf("error carries a token: %v", err)
			}
			t.Logf("%v", err)
		})
	}

	t.Run("health", func(t *testing.T) {
		ok, err := p.IsOnline()
		if !ok || err != nil {
			t.Errorf("IsOnline = %v, %v; want true", ok, err)
		}
		hr, err := p.Health(ctx)
		if err != nil || !hr.Online || hr.GroupVersion != "external.metrics.k8s.io/v1beta1" || hr.PreferredVersion != "v1beta1" {
			t.Errorf("Health = %+v, %v", hr, err)
		}
		if ok, err := newProvider(t, s, "wrong-token").IsOnline(); ok || !errors.Is(err, provider.ErrUnauthorized) {
			t.Errorf("IsOnline with a wrong token = %v, %v; want false, ErrUnauthorized", ok, err)
		}
		// Anonymous: the real server refuses discovery with 403.
		if ok, err := newProvider(t, s, "").IsOnline(); ok || err == nil {
			t.Errorf("IsOnline without a token = %v, %v; want false and an error", ok, err)
		} else {
			t.Logf("no token: %v", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		names, err := p.List(ctx)
		if err != nil || !slices.Equal(names, []string{"http_requests", "queue_depth"}) {
			t.Errorf("List = %q, %v", names, err)
		}
	})

	t.Run("series changes are seen", func(t *testing.T) {
		s.SetSeries("default", "changing", map[string]string{"a": "b"}, resource.MustParse("1"))
		if v, err := p.RunQuery("default/changing?labelSelector=a=b"); err != nil || v != 1 {
			t.Fatalf("RunQuery = %v, %v", v, err)
		}
		s.SetSeries("default", "changing", map[string]string{"a": "b"}, resource.MustParse("-250m"))
		if v, err := p.RunQuery("default/changing?labelSelector=a=b"); err != nil || v != -0.25 {
			t.Fatalf("RunQuery after change = %v, %v; want -0.25", v, err)
		}
		if !s.DeleteSeries("default", "changing", map[string]string{"a": "b"}) {
			t.Fatal("DeleteSeries: no series")
		}
		if _, err := p.RunQuery("default/changing?labelSelector=a=b"); !errors.Is(err, provider.ErrNoValuesFound) {
			t.Fatalf("RunQuery after delete: %v, want ErrNoValuesFound", err)
		}
	})
}

// TestClientsetAgainstCMA runs the k8s.io/metrics external_metrics
// clientset against the real server.
func TestClientsetAgainstCMA(t *testing.T) {
	s := cmatest.Start(t)
	setFixtures(s)
	nf := cmatest.StartWithOptions(t, cmatest.Options{UnknownMetricNotFound: true})
	setFixtures(nf)
	c, err := external_metrics.NewForConfig(s.RESTConfig(cmatest.Token))
	if err != nil {
		t.Fatal(err)
	}
	sel := func(s string) labels.Selector {
		t.Helper()
		l, err := labels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	list, err := c.NamespacedMetrics("default").List("http_requests", sel("env in (prod),app=web"))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Value.String() != "1500m" || list.Items[0].MetricName != "http_requests" ||
		list.Items[0].MetricLabels["app"] != "web" || list.Items[0].Timestamp.IsZero() {
		t.Errorf("List = %+v", list.Items)
	}
	list, err = c.NamespacedMetrics("default").List("http_requests", labels.Everything())
	if err != nil || len(list.Items) != 3 {
		t.Errorf("List everything = %+v, %v; want 3 items", list, err)
	}
	list, err = c.NamespacedMetrics("default").List("http_requests", sel("!tier"))
	if err != nil || len(list.Items) != 2 {
		t.Errorf("List !tier = %+v, %v; want 2 items", list, err)
	}
	list, err = c.NamespacedMetrics("default").List("no_such_metric", labels.Everything())
	if err != nil || list == nil || len(list.Items) != 0 {
		t.Errorf("List unknown = %+v, %v; want no items and no error", list, err)
	}

	cnf, err := external_metrics.NewForConfig(nf.RESTConfig(cmatest.Token))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cnf.NamespacedMetrics("default").List("no_such_metric", labels.Everything()); !apierrors.IsNotFound(err) {
		t.Errorf("List unknown with NotFound provider: %v, want NotFound", err)
	}

	bad, err := external_metrics.NewForConfig(s.RESTConfig("wrong-token"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.NamespacedMetrics("default").List("http_requests", labels.Everything()); !apierrors.IsUnauthorized(err) {
		t.Errorf("wrong token: %v, want Unauthorized", err)
	}
	anon, err := external_metrics.NewForConfig(s.RESTConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.NamespacedMetrics("default").List("http_requests", labels.Everything()); !apierrors.IsForbidden(err) {
		t.Errorf("no token: %v, want Forbidden (anonymous)", err)
	}
}
