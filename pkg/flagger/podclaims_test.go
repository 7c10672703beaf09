package flagger_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	externalmetrics "k8s.io/metrics/pkg/client/external_metrics"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// flaggerV144Client builds an External Metrics client the way Flagger
// v1.43–v1.44's NewExternalMetricsProvider does (described, not copied: a
// copy of the controller's rest.Config; Host = the template's address when
// set; TLSClientConfig.Insecure = insecureSkipVerify; BearerToken = the
// Secret's "token" when present; no other Secret key read).
func flaggerV144Client(controller *rest.Config, address string, insecure bool, secret map[string][]byte) (externalmetrics.ExternalMetricsClient, error) {
	cfg := rest.CopyConfig(controller)
	if address != "" {
		cfg.Host = address
	}
	cfg.Insecure = insecure
	if tok, ok := secret["token"]; ok {
		cfg.BearerToken = string(tok)
	}
	return externalmetrics.NewForConfig(cfg)
}

// podConfig is what clientcmd gives a controller in a pod (in-cluster): the
// API server, the service account's token file and the cluster's CA file.
func podConfig(t *testing.T, cluster *devserver.Server, podToken string) *rest.Config {
	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(tokenFile, []byte(podToken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, cluster.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &rest.Config{Host: cluster.URL(), BearerTokenFile: tokenFile, TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}}
}

// The client-go behaviour each pod note rests on, with this module's
// client-go and real devservers: the note's claim and the error it quotes.
// (The real Flagger controller's side is in the e2e tests.)
func TestFlaggerPodClaimsWithClientGo(t *testing.T) {
	cluster := devservertest.New(t, devserver.Config{}) // accepts devservertest.Token
	other := devservertest.New(t, devserver.Config{})   // another CA
	for _, s := range []*devserver.Server{cluster, other} {
		if err := s.SetSeries("ci", "errors", nil, "1"); err != nil {
			t.Fatal(err)
		}
	}
	list := func(c externalmetrics.ExternalMetricsClient) error {
		_, err := c.NamespacedMetrics("ci").List("errors", labels.Everything())
		return err
	}

	// flagger-pod-insecure-skip-verify: the client cannot even be built.
	if _, err := flaggerV144Client(podConfig(t, cluster, devservertest.Token), "", true, nil); err == nil ||
		!strings.Contains(err.Error(), flagger.FlaggerErrInsecureWithCA) {
		t.Errorf("insecureSkipVerify in a pod: %v, want %q", err, flagger.FlaggerErrInsecureWithCA)
	}

	// flagger-pod-secret-token-ignored: the pod's token file wins. With
	// the pod's token the server accepts and the Secret's wrong token is
	// never sent; with the Secret's right token and another pod token the
	// server says Unauthorized.
	c, err := flaggerV144Client(podConfig(t, cluster, devservertest.Token), cluster.URL(), false, map[string][]byte{"token": []byte("not-this")})
	if err != nil || list(c) != nil {
		t.Errorf("pod token file should win over the Secret's token: %v / %v", err, list(c))
	}
	c, err = flaggerV144Client(podConfig(t, cluster, "pod-token"), cluster.URL(), false, map[string][]byte{"token": []byte(devservertest.Token)})
	if err != nil {
		t.Fatal(err)
	}
	if err := list(c); err == nil || err.Error() != flagger.FlaggerErrUnauthorized {
		t.Errorf("Secret token with a pod token file: %v, want %q", err, flagger.FlaggerErrUnauthorized)
	}

	// flagger-pod-token-leak: no Secret token, the pod's token goes to the
	// address (the server accepts it: it is the token it knows).
	c, err = flaggerV144Client(podConfig(t, cluster, devservertest.Token), cluster.URL(), false, nil)
	if err != nil || list(c) != nil {
		t.Errorf("pod token to the template's address: %v / %v", err, list(c))
	}

	// flagger-pod-secret-ca-ignored: the Secret's CA is the right one, but
	// the cluster's CA is what verifies the address.
	c, err = flaggerV144Client(podConfig(t, cluster, devservertest.Token), other.URL(), false,
		map[string][]byte{"token": []byte(devservertest.Token), "ca.crt": other.CAPEM()})
	if err != nil {
		t.Fatal(err)
	}
	if err := list(c); err == nil || !strings.Contains(err.Error(), flagger.FlaggerErrUnknownAuthority) {
		t.Errorf("Secret ca.crt: %v, want %q", err, flagger.FlaggerErrUnknownAuthority)
	}
}
