package devserver_test

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

func TestKubectl(t *testing.T) {
	devservertest.KubectlPath(t)
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	kc := devservertest.WriteKubeconfig(t, s, devservertest.Token)

	out, errOut, err := devservertest.Kubectl(t, kc, "get", "--raw", nsPath+"default/http_requests?labelSelector=env%3Dprod,app%3Dweb")
	if err != nil {
		t.Fatalf("kubectl get --raw: %v\n%s", err, errOut)
	}
	var list v1beta1.ExternalMetricValueList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("kubectl output is not a list: %v\n%s", err, out)
	}
	if list.Kind != "ExternalMetricValueList" || len(list.Items) != 1 || list.Items[0].Value.String() != "1500m" {
		t.Errorf("list: %s", out)
	}

	out, errOut, err = devservertest.Kubectl(t, kc, "api-resources", "--api-group=external.metrics.k8s.io")
	if err != nil {
		t.Fatalf("kubectl api-resources: %v\n%s", err, errOut)
	}
	for _, name := range []string{"http_requests", "queue_depth", "datadogmetric@default:checkout-error-rate"} {
		if !strings.Contains(out, name) {
			t.Errorf("api-resources does not list %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "external.metrics.k8s.io/v1beta1") {
		t.Errorf("api-resources without the group version:\n%s", out)
	}
	if strings.TrimSpace(errOut) != "" {
		t.Errorf("kubectl api-resources complained:\n%s", errOut)
	}

	// Not found and unauthorized come back as kubectl errors.
	_, errOut, err = devservertest.Kubectl(t, kc, "get", "--raw", nsPath+"default/no_such_metric")
	if err == nil || !strings.Contains(errOut, "NotFound") && !strings.Contains(errOut, "could not find") {
		t.Errorf("unknown metric: err %v, stderr %s", err, errOut)
	}
	bad := devservertest.WriteKubeconfig(t, s, "wrong-token")
	_, errOut, err = devservertest.Kubectl(t, bad, "get", "--raw", nsPath+"default/http_requests")
	if err == nil || !strings.Contains(errOut, "Unauthorized") {
		t.Errorf("wrong token: err %v, stderr %s", err, errOut)
	}
	if _, errOut, err := devservertest.Kubectl(t, kc, "version"); err != nil {
		t.Errorf("kubectl version: %v\n%s", err, errOut)
	}
}
