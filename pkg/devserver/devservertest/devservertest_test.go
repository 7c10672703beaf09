package devservertest_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/clientcmd"
	externalclient "k8s.io/metrics/pkg/client/external_metrics"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

func TestNewAndKubeconfig(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	if err := s.SetSeries("default", "m", map[string]string{"a": "b"}, "1500m"); err != nil {
		t.Fatal(err)
	}
	path := devservertest.WriteKubeconfig(t, s, devservertest.Token)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]externalclient.ExternalMetricsClient{
		"kubeconfig": externalclient.NewForConfigOrDie(cfg),
		"RESTConfig": externalclient.NewForConfigOrDie(devservertest.RESTConfig(s, devservertest.Token)),
	} {
		list, err := c.NamespacedMetrics("default").List("m", labels.Everything())
		if err != nil || len(list.Items) != 1 || list.Items[0].Value.String() != "1500m" {
			t.Errorf("%s: %+v, %v", name, list, err)
		}
	}
	resp, err := devservertest.HTTPClient(s).Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("HTTPClient speaks %s, want HTTP/2", resp.Proto)
	}
}

func TestNoAuthWithEmptyTokens(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Tokens: map[string][]string{}, InsecureHTTP: true})
	c := externalclient.NewForConfigOrDie(devservertest.RESTConfig(s, ""))
	if _, err := c.NamespacedMetrics("default").List("nothing", labels.Everything()); err == nil || !strings.Contains(err.Error(), "could not find") {
		t.Errorf("want NotFound without a token, got %v", err)
	}
}
