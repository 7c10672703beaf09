package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// TestFlaggerInClusterToken reproduces Flagger's in-cluster token defect
// in its real setting. Flagger's base config is the pod's: kube-apiserver's
// address and a service-account token file (here minted with TokenRequest
// against the real kube-apiserver). A MetricTemplate with a direct address
// and a secretRef token must send the secret's token to that address, not
// the service-account token, which client-go would otherwise prefer.
func TestFlaggerInClusterToken(t *testing.T) {
	c := cluster.Get(t)
	isolate(t)
	ctx := context.Background()

	saToken, err := c.ServiceAccountToken(ctx, "flagger-system", "flagger", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(saToken), 0o600); err != nil {
		t.Fatal(err)
	}
	// What rest.InClusterConfig returns in Flagger's pod.
	inCluster := &rest.Config{Host: c.URL(), BearerTokenFile: tokenFile, TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile()}}

	// The base config is real: with an empty address the service account
	// reaches external metrics through kube-apiserver.
	agg := startAggregated(t, c, devserver.ProfilePrometheusAdapter)
	agg.set(t, "shop", "orders_per_second", map[string]string{"app": "checkout"}, "12")
	grantExternalMetrics(t, c, "e2e-flagger-external-metrics", "flagger-system/flagger")
	fp, err := provider.NewForFlagger("", false, nil, inCluster)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventually(10*time.Second, func() error { _, err := fp.RunQuery(orderQuery); return err }); err != nil {
		t.Fatalf("empty address with the service-account token: %v", err)
	}

	// A direct devserver that knows both tokens, with different namespaces:
	// the secret's token may read "shop", the service account's only "other".
	const secretToken = "metric-template-secret-token"
	logs := &testutil.Buffer{}
	direct, err := devserver.Start(ctx, devserver.Config{
		Addr:   "127.0.0.1:0",
		Tokens: map[string][]string{secretToken: {"shop"}, saToken: {"other"}},
		Logger: newLogger(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = direct.Close() })
	if err := direct.SetSeries("shop", "orders_per_second", map[string]string{"app": "checkout"}, "7"); err != nil {
		t.Fatal(err)
	}
	// The devserver names tokens token#1, token#2 in sorted order.
	names := []string{secretToken, saToken}
	sort.Strings(names)
	secretName := "token#1"
	if names[1] == secretToken {
		secretName = "token#2"
	}

	secret := map[string][]byte{"token": []byte(secretToken), "ca.crt": direct.CAPEM()}
	fp, err = provider.NewForFlagger(direct.URL(), false, secret, inCluster)
	if err != nil {
		t.Fatal(err)
	}
	v, err := fp.RunQuery(orderQuery)
	if err != nil {
		t.Fatalf("direct address with the secret's token: %v\ndevserver log:\n%s", err, logs.String())
	}
	if v != 7 {
		t.Errorf("value %v, want the direct devserver's 7", v)
	}
	if ok, err := fp.IsOnline(); !ok || err != nil {
		t.Errorf("IsOnline: %v, %v", ok, err)
	}
	log := logs.String()
	if !strings.Contains(log, "who="+secretName) {
		t.Errorf("the devserver did not see the secret's token (%s):\n%s", secretName, log)
	}
	if strings.Contains(log, saToken) || strings.Contains(log, secretToken) {
		t.Errorf("the devserver logged a token:\n%s", log)
	}
	// The one in-cluster defect Flagger has: the service-account token
	// sent instead would only be allowed "other".
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "msg=request") && !strings.Contains(line, "who="+secretName) {
			t.Errorf("a request with another identity reached the devserver: %s", line)
		}
	}
}
