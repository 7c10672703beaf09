package e2e_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

const orderQuery = "shop/orders_per_second?labelSelector=app=checkout"

// query runs one query with a provider built from base (no address: the
// aggregation layer) and returns the value or the error.
func query(t *testing.T, base *rest.Config, spec provider.Spec, opts provider.Options, q string) (float64, error) {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 20 * time.Second
	}
	p, err := provider.New(base, spec, opts)
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	res, err := p.Query(context.Background(), q)
	if err != nil {
		return 0, err
	}
	return res.Value, nil
}

// TestRBACForbidden: an authenticated user without RBAC permission gets the
// forbidden kind, with kube-apiserver's message naming what is missing;
// the CLI says the same; a ClusterRole on external.metrics.k8s.io fixes it.
func TestRBACForbidden(t *testing.T) {
	c := cluster.Get(t)
	isolate(t)
	a := startAggregated(t, c, devserver.ProfilePrometheusAdapter)
	a.set(t, "shop", "orders_per_second", map[string]string{"app": "checkout"}, "12")

	_, err := query(t, c.UserConfig(harness.ViewerUser), provider.Spec{}, provider.Options{}, orderQuery)
	if !errors.Is(err, provider.ErrForbidden) || provider.ErrorKind(err) != "forbidden" {
		t.Fatalf("viewer: want kind forbidden, got %v (%s)", err, provider.ErrorKind(err))
	}
	for _, want := range []string{`"viewer"`, "cannot list resource", `"orders_per_second"`, `"external.metrics.k8s.io"`, `"shop"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name the missing permission (%s): %v", want, err)
		}
	}
	code, out, errOut := runCLI(t, "query", orderQuery, "--kubeconfig", c.UserKubeconfig(harness.ViewerUser), "--timeout", "20s")
	if code != 1 || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, "cannot list resource") {
		t.Errorf("CLI as viewer: exit %d\n%s\n%s", code, out, errOut)
	}

	grantExternalMetrics(t, c, "e2e-viewer-external-metrics", harness.ViewerUser)
	// RBAC changes reach the authorizer through an informer: allow a moment.
	var v float64
	if err := eventually(10*time.Second, func() error {
		v, err = query(t, c.UserConfig(harness.ViewerUser), provider.Spec{}, provider.Options{}, orderQuery)
		return err
	}); err != nil {
		t.Fatalf("viewer after the ClusterRole: %v", err)
	}
	if v != 12 {
		t.Errorf("viewer after the ClusterRole: %v, want 12", v)
	}
}

// TestBackendDown: with the APIService's backend gone kube-apiserver
// answers 503; the provider calls that unavailable, an analysis check fails
// (fail closed), and everything recovers when the backend is back.
func TestBackendDown(t *testing.T) {
	c := cluster.Get(t)
	isolate(t)
	a := startAggregated(t, c, devserver.ProfilePrometheusAdapter)
	a.set(t, "shop", "orders_per_second", map[string]string{"app": "checkout"}, "12")
	admin := c.AdminConfig()
	if _, err := query(t, admin, provider.Spec{}, provider.Options{}, orderQuery); err != nil {
		t.Fatalf("backend up: %v", err)
	}

	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := query(t, admin, provider.Spec{}, provider.Options{MaxRetries: 1, Timeout: 20 * time.Second}, orderQuery)
	var pe *provider.Error
	if !errors.Is(err, provider.ErrUnavailable) || !errors.As(err, &pe) || pe.StatusCode != 503 {
		t.Fatalf("backend down: want unavailable with status 503, got %v", err)
	}

	// Flagger's IsOnline follows the request to the backend too, and says why.
	fp, err := provider.NewForFlagger("", false, nil, admin)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := fp.IsOnline(); ok || !errors.Is(err, provider.ErrUnavailable) || !strings.Contains(errString(err), "cannot reach the backend of APIService v1beta1.external.metrics.k8s.io") {
		t.Errorf("IsOnline with the backend down: %v, %v", ok, err)
	}

	// A canary check fails on it (the MetricTemplate has no address).
	code, out, errOut := runCLI(t, "analyze", "-f", analyzeFile(t), "--once", "--kubeconfig", c.AdminKubeconfig(), "--timeout", "20s")
	if code != 1 || !strings.Contains(out+errOut, "unavailable") {
		t.Errorf("analyze --once with the backend down: exit %d, want 1 with an unavailable check\n%s\n%s", code, out, errOut)
	}

	// Back on the same port: the aggregator notices and queries work again.
	a.start(t)
	a.set(t, "shop", "orders_per_second", map[string]string{"app": "checkout"}, "13")
	if err := eventually(90*time.Second, func() error {
		_, err := query(t, admin, provider.Spec{}, provider.Options{MaxRetries: -1}, orderQuery)
		return err
	}); err != nil {
		t.Fatalf("no recovery: %v", err)
	}
	code, out, errOut = runCLI(t, "analyze", "-f", analyzeFile(t), "--once", "--kubeconfig", c.AdminKubeconfig(), "--timeout", "20s")
	if code != 0 {
		t.Errorf("analyze --once after recovery: exit %d\n%s\n%s", code, out, errOut)
	}
}

// analyzeFile is a MetricTemplate without address and a Canary checking
// orders_per_second >= 1.
func analyzeFile(t *testing.T) string {
	t.Helper()
	objects := `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: orders, namespace: shop}
spec:
  provider: {type: externalmetrics}
  query: "{{ namespace }}/orders_per_second?labelSelector=app={{ target }}"
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: checkout, namespace: shop}
spec:
  targetRef: {kind: Deployment, name: checkout}
  analysis:
    interval: 1m
    stepWeight: 50
    threshold: 1
    metrics:
      - name: orders
        templateRef: {name: orders}
        thresholdRange: {min: 1}
`
	path := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(path, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServiceAccountToken: a service-account token minted with the
// TokenRequest API works as the provider credential through kube-apiserver;
// an expired one is unauthorized, and once the service account is deleted
// the TokenRequest token is unauthorized too.
func TestServiceAccountToken(t *testing.T) {
	c := cluster.Get(t)
	isolate(t)
	ctx := context.Background()
	a := startAggregated(t, c, devserver.ProfilePrometheusAdapter)
	a.set(t, "shop", "orders_per_second", map[string]string{"app": "checkout"}, "12")

	tok, err := c.ServiceAccountToken(ctx, "canary-ops", "analyzer", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	grantExternalMetrics(t, c, "e2e-analyzer-external-metrics", "canary-ops/analyzer")
	// The token as the Secret's token, with the cluster CA, on a base config
	// that has no credentials of its own.
	base := &rest.Config{Host: c.URL(), TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM()}}
	spec := provider.Spec{SecretData: map[string][]byte{provider.SecretKeyToken: []byte(tok)}}
	var v float64
	if err := eventually(10*time.Second, func() error {
		v, err = query(t, base, spec, provider.Options{}, orderQuery)
		return err
	}); err != nil {
		t.Fatalf("service-account token: %v", err)
	}
	if v != 12 {
		t.Errorf("value %v, want 12", v)
	}
	// And from a token file, as the CLI's --token-file.
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, base, provider.Spec{}, provider.Options{TokenFile: tokFile}, orderQuery); err != nil {
		t.Errorf("token file: %v", err)
	}

	// Expiry: the same service account's token signed with the cluster's
	// key, valid now, works; one that expired a minute ago is unauthorized.
	now := time.Now()
	fresh, err := c.SignServiceAccountToken(ctx, "canary-ops", "analyzer", now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, base, provider.Spec{SecretData: map[string][]byte{provider.SecretKeyToken: []byte(fresh)}}, provider.Options{}, orderQuery); err != nil {
		t.Fatalf("self-signed token, valid now: %v", err)
	}
	expired, err := c.SignServiceAccountToken(ctx, "canary-ops", "analyzer", now.Add(-2*time.Hour), now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, err = query(t, base, provider.Spec{SecretData: map[string][]byte{provider.SecretKeyToken: []byte(expired)}}, provider.Options{}, orderQuery)
	if provider.ErrorKind(err) != "unauthorized" {
		t.Errorf("expired token: want kind unauthorized, got %v", err)
	} else if strings.Contains(err.Error(), expired) {
		t.Errorf("the error shows the token: %v", err)
	}

	// Revocation: deleting the service account invalidates its tokens.
	if err := c.DeleteServiceAccount(ctx, "canary-ops", "analyzer"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(15*time.Second, func() error {
		_, err := query(t, base, spec, provider.Options{MaxRetries: -1}, orderQuery)
		if provider.ErrorKind(err) != "unauthorized" {
			return errors.New("want kind unauthorized, got " + provider.ErrorKind(err) + ": " + errString(err))
		}
		return nil
	}); err != nil {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := query(t, base, spec, provider.Options{}, orderQuery); err != nil && strings.Contains(err.Error(), tok) {
		t.Errorf("the error shows the token: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
