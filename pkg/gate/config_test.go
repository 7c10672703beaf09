package gate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/gate"
)

func TestParseConfig(t *testing.T) {
	cfg, err := gate.ParseConfig([]byte(`
providers:
  - name: cluster
  - name: datadog
    address: https://datadog-cluster-agent-metrics-api.datadog:8443
    caFile: /etc/dca/ca.crt
    tokenFile: /etc/dca/token
    timeout: 3s
`))
	if err != nil || len(cfg.Providers) != 2 || cfg.Provider("datadog").Timeout.Duration != 3*time.Second || cfg.Provider("cluster").Address != "" {
		t.Fatalf("%+v %v", cfg, err)
	}
	if cfg, err := gate.ParseConfig([]byte("# nothing\n")); err != nil || len(cfg.Providers) != 0 {
		t.Fatal(cfg, err)
	}
	for _, c := range []struct{ in, msg string }{
		{"providers:\n- name: a\n  adress: https://x\n", `providers[0]: unknown field "adress"`},
		{"provider: []\n", `unknown field "provider"`},
		{"providers:\n- name: a\n", "providers[0].address: required (only the provider named \"cluster\""},
		{"providers:\n- name: A_b\n  address: https://x\n", "providers[0].name"},
		{"providers:\n- name: a\n  address: https://x\n- name: a\n  address: https://y\n", "already used by providers[0]"},
		{"providers:\n- name: a\n  address: ftp://x\n", "want an https://"},
		{"providers:\n- name: a\n  address: https://user:pw@x\n", "credentials in the URL"},
		{"providers:\n- name: a\n  address: https://x?q=1\n", "no query"},
		{"providers:\n- name: a\n  address: https://x\n  clientCertFile: c\n", "together"},
		{"providers:\n- name: a\n  address: https://x\n  timeout: soon\n", "want e.g. 5s"},
		{"providers:\n- name: a\n  address: https://x\n  insecureSkipVerify: maybe\n", "insecureSkipVerify"},
		{"providers: [1]\n", "providers[0]: want a mapping"},
		{"- a\n", "want a mapping"},
	} {
		_, err := gate.ParseConfig([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%q: %v; want %q", c.in, err, c.msg)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("providers:\n- name: a\n  address: https://x\n"))
	f.Add([]byte("providers: [{name: cluster}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := gate.ParseConfig(b)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("parsed but invalid: %v", verr)
			}
		}
	})
}

func TestRenderCacheKeyedByModel(t *testing.T) {
	objs := objects(t, `
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t, namespace: default}
spec:
  provider: {type: externalmetrics, address: "https://127.0.0.1:1"}
  query: '{{ namespace }}/{{ variables.m }}?labelSelector=app%3D{{ target }}&maxAge=notaduration'
`)
	g := newGate(t, gate.Options{Objects: objs})
	for _, c := range []struct{ target, m, want string }{{"a", "x", "app%3Da"}, {"b", "x", "app%3Db"}, {"a", "y", "default/y"}} {
		a := g.check(t, map[string]any{"templateRef": "default/t", "namespace": "default", "target": c.target, "variables": map[string]string{"m": c.m}, "max": 1})
		if a.res.ErrorKind != "invalid-query" || !strings.Contains(a.res.Query, c.want) {
			t.Fatalf("%+v: %s", c, a.body)
		}
	}
}
