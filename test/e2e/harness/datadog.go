package harness

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// DatadogMetricStatus is the status the Datadog Cluster Agent writes on a
// DatadogMetric (datadoghq.com/v1alpha1); tests have no Cluster Agent and
// write it themselves with SetDatadogMetricStatus.
type DatadogMetricStatus struct {
	// Valid is the Valid condition (the query was accepted by Datadog).
	Valid bool
	// Value is status.currentValue.
	Value string
	// Updated is every condition's lastUpdateTime and lastTransitionTime.
	Updated time.Time
	// Error, when set, adds an Error condition with this message.
	Error string
}

var datadogMetrics = schema.GroupVersionResource{Group: "datadoghq.com", Version: "v1alpha1", Resource: "datadogmetrics"}

// SetDatadogMetricStatus writes st as the status of the DatadogMetric
// ns/name (which must exist), as the admin: conditions Active, Valid and
// Updated (and Error when st.Error is set) and currentValue.
func (c *Cluster) SetDatadogMetricStatus(ctx context.Context, ns, name string, st DatadogMetricStatus) error {
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	ri := dyn.Resource(datadogMetrics).Namespace(ns)
	obj, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	ts := st.Updated.UTC().Format(time.RFC3339)
	cond := func(typ, status string) map[string]any {
		return map[string]any{"type": typ, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts}
	}
	valid := "False"
	if st.Valid {
		valid = "True"
	}
	conds := []any{cond("Active", "True"), cond("Valid", valid), cond("Updated", "True")}
	if st.Error != "" {
		e := cond("Error", "True")
		e["message"] = st.Error
		conds = append(conds, e)
	}
	if err := unstructured.SetNestedField(obj.Object, map[string]any{"currentValue": st.Value, "conditions": conds}, "status"); err != nil {
		return err
	}
	if _, err := ri.UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("DatadogMetric %s/%s status: %w", ns, name, err)
	}
	return nil
}
