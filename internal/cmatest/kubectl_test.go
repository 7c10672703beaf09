package cmatest_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"

	"github.com/extmetrics/extmetrics/internal/cmatest"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

// TestKubectlParity runs the real kubectl against both servers: discovery
// through api-resources (which also walks /api) and get --raw.
func TestKubectlParity(t *testing.T) {
	devservertest.KubectlPath(t)
	cma, dev, cmaSrv, devSrv := servers(t)
	configs := map[string]string{
		cma.name: devservertest.WriteKubeconfigFor(t, cmaSrv.URL(), cmaSrv.CAPEM(), cma.token),
		dev.name: devservertest.WriteKubeconfigFor(t, devSrv.URL(), devSrv.CAPEM(), dev.token),
	}

	t.Run("api-resources", func(t *testing.T) {
		outs := map[string]string{}
		for name, kc := range configs {
			out, errOut, err := devservertest.Kubectl(t, kc, "api-resources", "--api-group=external.metrics.k8s.io", "--no-headers")
			if err != nil {
				t.Errorf("%s: kubectl api-resources: %v\n%s", name, err, errOut)
			}
			if strings.TrimSpace(errOut) != "" {
				t.Errorf("%s: kubectl api-resources complained:\n%s", name, errOut)
			}
			outs[name] = normalizeSpaces(out)
		}
		if outs["cma"] != "" {
			t.Errorf("the real server now shows in kubectl api-resources (the library changed: update docs/devserver.md and this test):\n%s", outs["cma"])
		}
		if !strings.Contains(outs["devserver"], "http_requests external.metrics.k8s.io/v1beta1 true ExternalMetricValueList") {
			t.Errorf("devserver api-resources:\n%s", outs["devserver"])
		}
		if outs["cma"] != outs["devserver"] {
			t.Skipf("known difference: kubectl api-resources lists nothing against the real server reached directly "+
				"(its aggregated discovery document is empty) and lists the metrics against the devserver, as issue 2 asks:\n%s", outs["devserver"])
		}
	})

	t.Run("get --raw", func(t *testing.T) {
		path := emPath + "/namespaces/default/http_requests?labelSelector=env%3Dprod"
		var lists [2]v1beta1.ExternalMetricValueList
		for i, name := range []string{"cma", "devserver"} {
			out, errOut, err := devservertest.Kubectl(t, configs[name], "get", "--raw", path)
			if err != nil {
				t.Fatalf("%s: kubectl get --raw: %v\n%s", name, err, errOut)
			}
			if err := json.Unmarshal([]byte(out), &lists[i]); err != nil {
				t.Fatalf("%s: not a list: %v\n%s", name, err, out)
			}
		}
		if len(lists[0].Items) != 2 || len(lists[1].Items) != len(lists[0].Items) {
			t.Errorf("items: cma %d, devserver %d", len(lists[0].Items), len(lists[1].Items))
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, path := range []string{
			emPath + "/namespaces/default/http_requests?labelSelector=app%3D%3D%3Dx",
			emPath + "/namespaces/default",
		} {
			var msgs [2]string
			for i, name := range []string{"cma", "devserver"} {
				_, errOut, err := devservertest.Kubectl(t, configs[name], "get", "--raw", path)
				if err == nil {
					t.Errorf("%s: kubectl get --raw %s succeeded", name, path)
				}
				msgs[i] = strings.TrimSpace(errOut)
			}
			t.Logf("%s\ncma:       %s\ndevserver: %s", path, msgs[0], msgs[1])
			if prefix(msgs[0]) != prefix(msgs[1]) {
				t.Errorf("kubectl error kinds differ for %s:\ncma:       %s\ndevserver: %s", path, msgs[0], msgs[1])
			}
		}
	})
}

// prefix is kubectl's error kind, e.g. "Error from server (BadRequest)".
func prefix(s string) string {
	p, _, _ := strings.Cut(s, ":")
	return p
}

func normalizeSpaces(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// TestClientGoDiscovery runs client-go's discovery client, which prefers
// aggregated discovery, against both servers.
func TestClientGoDiscovery(t *testing.T) {
	_, _, cmaSrv, devSrv := servers(t)
	for _, c := range []struct {
		name string
		cfg  *rest.Config
	}{
		{"cma", cmaSrv.RESTConfig(cmatest.Token)},
		{"devserver", devservertest.RESTConfig(devSrv, devservertest.Token)},
	} {
		dc, err := discovery.NewDiscoveryClientForConfig(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		groups, err := dc.ServerGroups()
		if err != nil {
			t.Errorf("%s: ServerGroups: %v", c.name, err)
			continue
		}
		var names []string
		for _, g := range groups.Groups {
			names = append(names, g.Name)
		}
		t.Logf("%s: ServerGroups %q", c.name, names)
		served := slices.Contains(names, "external.metrics.k8s.io")
		switch c.name {
		case "cma":
			if served {
				t.Errorf("cma: client-go discovery now finds external.metrics.k8s.io: the library changed, update docs/devserver.md and TestKubectlParity")
			}
		default:
			if !served {
				t.Errorf("devserver: client-go discovery does not find external.metrics.k8s.io")
			}
		}
		// The legacy per-group-version document works on both.
		rl, err := dc.ServerResourcesForGroupVersion("external.metrics.k8s.io/v1beta1")
		if err != nil || len(rl.APIResources) != 2 {
			t.Errorf("%s: ServerResourcesForGroupVersion = %+v, %v", c.name, rl, err)
		}
	}
}
