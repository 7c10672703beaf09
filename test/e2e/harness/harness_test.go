package harness_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

var cluster = harness.NewShared(harness.Options{})

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

// TestSmoke: kubectl get --raw through kube-apiserver's aggregation layer
// reaches a devserver registered as the external metrics APIService.
func TestSmoke(t *testing.T) {
	c := cluster.Get(t)
	t.Logf("cluster %s started in %s (kube-apiserver %s, etcd %s)", c.URL(), c.StartupTime().Round(time.Millisecond),
		c.Binaries().KubeAPIServerVersion, c.Binaries().EtcdVersion)
	ctx := context.Background()

	certFile, keyFile, err := c.BackendCert(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := devserver.Start(ctx, devserver.Config{
		Addr:         "127.0.0.1:0",
		Tokens:       map[string][]string{}, // the aggregator sends no token
		TLSCertFile:  certFile,
		TLSKeyFile:   keyFile,
		ClientCAFile: c.FrontProxyCAFile(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.SetSeries("default", "queue_depth", map[string]string{"app": "web"}, "42"); err != nil {
		t.Fatal(err)
	}
	port := portOf(t, s.Addr())
	if err := c.RegisterExternalMetrics(ctx, harness.Backend{Port: port}); err != nil {
		t.Fatal(err)
	}

	out, _, err := c.Kubectl(ctx, "get", "--raw", "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth?labelSelector=app%3Dweb")
	if err != nil {
		t.Fatal(err)
	}
	var list v1beta1.ExternalMetricValueList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("not a list: %v\n%s", err, out)
	}
	if len(list.Items) != 1 || list.Items[0].Value.String() != "42" {
		t.Errorf("through the aggregator: %s", out)
	}

	// The viewer has no RBAC rule: kube-apiserver refuses before proxying.
	_, stderr, err := c.KubectlAs(ctx, harness.ViewerUser, "get", "--raw", "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth")
	if err == nil || !strings.Contains(stderr, "Forbidden") && !strings.Contains(stderr, "forbidden") {
		t.Errorf("viewer: err %v, stderr %s", err, stderr)
	}

	// A service-account token minted with TokenRequest authenticates.
	tok, err := c.ServiceAccountToken(ctx, "smoke", "reader", 0)
	if err != nil {
		t.Fatal(err)
	}
	kc := t.TempDir() + "/sa-kubeconfig"
	if err := c.WriteKubeconfig(kc, "reader", tok); err != nil {
		t.Fatal(err)
	}
	out, _, err = c.KubectlWithKubeconfig(ctx, kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil {
		t.Fatal(err)
	}
	if out != "system:serviceaccount:smoke:reader" {
		t.Errorf("whoami with the service-account token: %q", out)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}
