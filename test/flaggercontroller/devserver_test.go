package flaggercontroller

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// devToken is the devservers' bearer token, given to Flagger in the
// MetricTemplates' Secret.
const devToken = "flagger-dev-token"

// startDevserver starts a devserver with profile on 127.0.0.1 whose serving
// certificate is signed by the cluster CA: Flagger v1.43–v1.44 verify a
// template's address with the CA of their own kubeconfig (they ignore the
// Secret's ca.crt and cannot skip verification, see docs/testing-real-controllers.md),
// so this is the only certificate they accept there.
func startDevserver(t *testing.T, c *harness.Cluster, profile string, tokens map[string][]string) *devserver.Server {
	t.Helper()
	certFile, keyFile, err := c.BackendCert(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if tokens == nil {
		tokens = map[string][]string{devToken: {devserver.AllNamespaces}}
	}
	s, err := devserver.Start(context.Background(), devserver.Config{Addr: "127.0.0.1:0", Profile: profile, Tokens: tokens, TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// canaryYAML is a blue/green Canary (kubernetes mesh provider, iterations)
// on podinfo with a 10 s interval (Flagger's minimum) and the given
// analysis metrics and webhooks (YAML list items, indented by 4).
func canaryYAML(ns string, iterations, threshold int, metrics, webhooks string) string {
	s := fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 120
  service: {port: 9898}
  analysis:
    interval: 10s
    threshold: %d
    iterations: %d
`, ns, threshold, iterations)
	if metrics != "" {
		s += "    metrics:\n" + indent(metrics, "    ") + "\n"
	}
	if webhooks != "" {
		s += "    webhooks:\n" + indent(webhooks, "    ") + "\n"
	}
	return s
}

// templateYAML is a Secret (token, optionally ca.crt) and an
// externalmetrics MetricTemplate named error-rate; address "" means the
// cluster's aggregation layer (no Secret then).
func templateYAML(ns, address, query, caPEM string) string {
	if address == "" {
		return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: %s}
spec:
  provider: {type: externalmetrics}
  query: %q
---
`, ns, query)
	}
	ca := ""
	if caPEM != "" {
		ca = "  ca.crt: |\n" + indent(caPEM, "    ") + "\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: devserver, namespace: %[1]s}
stringData:
  token: %[2]s
%[5]s---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: %[1]s}
spec:
  provider: {type: externalmetrics, address: %[3]q, secretRef: {name: devserver}}
  query: %[4]q
---
`, ns, devToken, address, query, ca)
}

const errorRateMetric = `- name: error-rate
  templateRef: {name: error-rate}
  thresholdRange: {max: 1}`

// TestDevserverProvider: Flagger's own externalmetrics provider reads the
// devserver for each profile; in range the canary is promoted, out of range
// it is rolled back with Flagger's "Halt" event; once more through the
// cluster's aggregation layer (a template without address).
func TestDevserverProvider(t *testing.T) {
	t.Parallel()
	c, ctl := sharedController(t)

	type profileCase struct {
		profile, short string
		metric         func(ns string) string // series name
		query          func(ns string) string
		labels         map[string]string
	}
	profiles := []profileCase{
		{devserver.ProfilePrometheusAdapter, "prom",
			func(string) string { return "http_requests_error_rate" },
			func(string) string {
				return "{{ namespace }}/http_requests_error_rate?labelSelector=app%3D{{ target }}"
			}, map[string]string{"app": "podinfo"}},
		{devserver.ProfileCMA, "cma",
			func(string) string { return "http_requests_error_rate" },
			func(string) string {
				return "{{ namespace }}/http_requests_error_rate?labelSelector=app%3D{{ target }}"
			}, map[string]string{"app": "podinfo"}},
		{devserver.ProfileDatadog, "dd",
			func(ns string) string { return "datadogmetric@" + ns + ":podinfo-error-rate" },
			func(string) string { return "{{ namespace }}/datadogmetric@{{ namespace }}:{{ target }}-error-rate" }, nil},
	}
	for _, p := range profiles {
		srv := startDevserver(t, c, p.profile, nil)
		for _, tc := range []struct {
			name  string
			value string
			want  string
		}{{"pass", "500m", "Succeeded"}, {"fail", "2", "Failed"}} {
			t.Run(p.profile+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ns := "dev-" + p.short + "-" + tc.name
				if err := srv.SetSeries(ns, p.metric(ns), p.labels, tc.value); err != nil {
					t.Fatal(err)
				}
				o := runCanary(t, c, ctl, ns, templateYAML(ns, srv.URL(), p.query(ns), "")+canaryYAML(ns, 1, 1, errorRateMetric, ""), 3*time.Minute)
				assertPhase(t, o, tc.want)
				if tc.want == "Failed" {
					halt := fmt.Sprintf("Halt podinfo.%s advancement error-rate 2.00 > 1", ns)
					if countEvents(o, halt) == 0 {
						t.Errorf("no event %q in:\n  %s", halt, strings.Join(o.Events, "\n  "))
					}
				} else if len(o.Queries) != 2 {
					// blue/green with iterations 1: iterations+1 checks.
					t.Errorf("%d metric checks (%q), want 2", len(o.Queries), o.Queries)
				}
			})
		}
	}

	t.Run("aggregation-layer", func(t *testing.T) {
		t.Parallel()
		agg := aggregatedDevserver(t, c)
		ns := "dev-agg-pass"
		if err := agg.SetSeries(ns, "http_requests_error_rate", map[string]string{"app": "podinfo"}, "250m"); err != nil {
			t.Fatal(err)
		}
		o := runCanary(t, c, ctl, ns, templateYAML(ns, "", "{{ namespace }}/http_requests_error_rate?labelSelector=app%3D{{ target }}", "")+canaryYAML(ns, 1, 1, errorRateMetric, ""), 3*time.Minute)
		assertPhase(t, o, "Succeeded")
		if len(o.Queries) != 2 {
			t.Errorf("%d metric checks, want 2", len(o.Queries))
		}
	})
}

// aggregatedDevserver is the devserver behind the APIService
// v1beta1.external.metrics.k8s.io (front-proxy authentication), started
// and registered once per test binary.
func aggregatedDevserver(t *testing.T, c *harness.Cluster) *devserver.Server {
	t.Helper()
	aggOnce.Do(func() {
		dir, err := tempDir()
		if err != nil {
			aggErr = err
			return
		}
		certFile, keyFile, err := c.BackendCert(dir, "", "")
		if err != nil {
			aggErr = err
			return
		}
		aggSrv, aggErr = devserver.Start(context.Background(), devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{},
			TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: c.FrontProxyCAFile()})
		if aggErr != nil {
			return
		}
		_, port, _ := net.SplitHostPort(aggSrv.Addr())
		n, _ := strconv.Atoi(port)
		aggErr = c.RegisterExternalMetrics(context.Background(), harness.Backend{Port: n})
	})
	if aggErr != nil {
		t.Fatal(aggErr)
	}
	return aggSrv
}
