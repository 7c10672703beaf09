package flagger

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDecodeUnstructured(t *testing.T) {
	canary := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "web", "namespace": "shop", "uid": "1234-abcd", "resourceVersion": "7"},
		"spec": map[string]any{
			"targetRef": map[string]any{"kind": "Deployment", "name": "web"},
			"analysis":  map[string]any{"interval": "1m", "threshold": int64(2)},
		},
		// A status the decoder does not know must not fail the Canary.
		"status": map[string]any{"phase": "Progressing", "somethingNew": true},
	}}
	set, err := DecodeUnstructured(canary)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Canaries) != 1 {
		t.Fatalf("canaries: %d", len(set.Canaries))
	}
	c := set.Canaries[0]
	if c.UID != "1234-abcd" || c.Name != "web" || c.Namespace != "shop" || c.Spec.Analysis == nil || c.Spec.Analysis.Interval != "1m" {
		t.Fatalf("canary: %+v", c)
	}

	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
		"metadata": map[string]any{"name": "errs", "namespace": "shop"},
		"spec":     map[string]any{"provider": map[string]any{"type": "prometheus"}, "query": []any{"not", "a", "string"}},
	}}
	if _, err := DecodeUnstructured(bad); err == nil {
		t.Fatal("a MetricTemplate whose query is a list decoded without error")
	} else if want := "MetricTemplate shop/errs"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}
}
