package migrate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// DatadogMetricResource is the resource of the DatadogMetric CRD.
var DatadogMetricResource = schema.GroupVersionResource{Group: "datadoghq.com", Version: "v1alpha1", Resource: "datadogmetrics"}

var secretResource = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// DefaultStaleAfter is when a DatadogMetric whose Updated condition is older
// counts as stale: the Cluster Agent's default external_metrics_provider.max_age.
const DefaultStaleAfter = 2 * time.Minute

// CheckOptions configure Check.
type CheckOptions struct {
	// Client reads DatadogMetrics (and the new templates' Secret) from the cluster.
	Client dynamic.Interface
	// Factory builds the provider of each new template (the template's
	// address and secret; no address: the aggregation layer).
	Factory analysis.ProviderFactory
	// StaleAfter: an Updated condition older than this is stale (default DefaultStaleAfter).
	StaleAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Status is what Check found for one DatadogMetric.
type Status struct {
	DatadogMetric *DatadogMetric
	Found         bool
	Active        string // status of the Active condition: True, False or "" (none)
	Valid         string // status of the Valid condition
	Value         string // status.currentValue
	UpdateTime    time.Time
	Error         string // message of the Error condition when it is True
	Query         string // the new template rendered for the canary
	Result        string // what running it once gave: "pass 99.2", "out of range: ...", "error: ..."
	Ready         bool
	Reason        string // why not ready

	short string // Result for the table when it is long
}

// Check reads each generated DatadogMetric's status from the cluster (the
// Valid, Active, Value and Update Time columns of kubectl get datadogmetric,
// and the Error condition's message) and runs each new template once for
// each canary, as analyze --once would. A DatadogMetric is ready when it
// exists, is Active and Valid, has a value updated within StaleAfter and
// its query returned a value; a value outside the range is reported but
// does not make it unready (the pipeline works; the canary would fail).
func (r *Result) Check(ctx context.Context, opts CheckOptions) ([]Status, error) {
	if opts.Client == nil || opts.Factory == nil {
		return nil, errors.New("check: a cluster client and a provider factory are required")
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	queriers := map[*Template]analysis.Querier{}
	qerrs := map[*Template]error{}
	out := make([]Status, 0, len(r.DatadogMetrics))
	for _, d := range r.DatadogMetrics {
		st := Status{DatadogMetric: d}
		obj, err := opts.Client.Resource(DatadogMetricResource).Namespace(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			st.Reason = "not found"
		case err != nil:
			st.Reason = "cannot read it: " + err.Error()
		default:
			st.Found = true
			readStatus(obj, &st)
			if q, _, _ := unstructured.NestedString(obj.Object, "spec", "query"); strings.TrimSpace(q) != strings.TrimSpace(d.Query) {
				st.Reason = "exists with another spec.query: not this migration's (apply the generated one, or rename)"
			}
		}
		if st.Found && st.Reason == "" {
			st.Reason = readiness(&st, opts)
		}

		q, ok := queriers[d.Template]
		if !ok {
			q, err = newQuerier(ctx, d.Template, opts)
			queriers[d.Template], qerrs[d.Template] = q, err
		}
		st.Query, err = d.renderNewQuery()
		switch {
		case err != nil:
			st.Result = "error: " + err.Error()
		case q == nil:
			st.Result = "error: " + qerrs[d.Template].Error()
		default:
			b := analysis.MetricBounds(d.Metric)
			stale := analysis.Staleness{}
			if plan, err := analysis.NewPlan(d.Canary); err == nil {
				stale.Interval = plan.Interval
			}
			c := analysis.RunCheck(ctx, q, analysis.CheckSpec{Query: st.Query, Bounds: &b, Staleness: stale, Now: opts.Now})
			switch c.Verdict {
			case analysis.VerdictPass:
				st.Result = "pass " + analysis.FormatValue(c.Value)
			case analysis.VerdictFail:
				st.Result = "out of range: " + c.Message
			default:
				st.Result = fmt.Sprintf("error (%s): %s", c.ErrorKind, c.Message)
				st.short = "error (" + c.ErrorKind + ")"
			}
		}
		if st.Reason == "" && strings.HasPrefix(st.Result, "error") {
			st.Reason = "query " + st.Result
		}
		st.Ready = st.Reason == ""
		out = append(out, st)
	}
	return out, nil
}

func readStatus(obj *unstructured.Unstructured, st *Status) {
	ds := ReadDatadogMetricStatus(obj)
	st.Active, st.Valid, st.Value, st.UpdateTime, st.Error = ds.Active, ds.Valid, ds.Value, ds.UpdateTime, ds.Error
}

// DatadogMetricStatus is what the Cluster Agent writes in a DatadogMetric's
// status (the columns of kubectl get datadogmetric).
type DatadogMetricStatus struct {
	Active     string // status of the Active condition: True, False or "" (none)
	Valid      string // status of the Valid condition
	Value      string // status.currentValue
	UpdateTime time.Time
	Error      string // first line of the Error condition's message when it is True
}

// ReadDatadogMetricStatus reads a DatadogMetric's status (also for
// extmetrics doctor).
func ReadDatadogMetricStatus(obj *unstructured.Unstructured) DatadogMetricStatus {
	var st DatadogMetricStatus
	st.Value, _, _ = unstructured.NestedString(obj.Object, "status", "currentValue")
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := m["type"].(string)
		status, _ := m["status"].(string)
		msg, _ := m["message"].(string)
		switch typ {
		case "Active":
			st.Active = status
		case "Valid":
			st.Valid = status
		case "Updated":
			if s, ok := m["lastUpdateTime"].(string); ok {
				st.UpdateTime, _ = time.Parse(time.RFC3339, s)
			}
		case "Error":
			if status == "True" {
				st.Error = firstLine(msg)
			}
		}
	}
	return st
}

func readiness(st *Status, opts CheckOptions) string {
	switch {
	case st.Valid == "False" && st.Error != "":
		return "invalid query: " + st.Error
	case st.Valid == "False":
		return "invalid query (Valid=False): try spec.query in Datadog's metric explorer"
	case st.Error != "":
		return "error: " + st.Error
	case st.Active == "False":
		return fmt.Sprintf("not active: the Cluster Agent does not query it (annotation %s: \"true\" missing, or an old Cluster Agent)", AlwaysActiveAnnotation)
	case st.Valid == "" || st.Active == "" || st.UpdateTime.IsZero():
		return "no status yet: the Cluster Agent has not processed it (is DatadogMetric support enabled?)"
	case st.Value == "":
		return "no value yet"
	}
	if age := opts.Now().Sub(st.UpdateTime); age > opts.StaleAfter {
		return fmt.Sprintf("stale: updated %s ago (more than %s)", age.Round(time.Second), opts.StaleAfter)
	}
	return ""
}

// renderNewQuery renders the new template for the DatadogMetric's canary,
// as Flagger will after the switch.
func (d *DatadogMetric) renderNewQuery() (string, error) {
	model := d.Canary.Model(d.Metric)
	if d.Template.ByVariable {
		if model.Variables == nil {
			model.Variables = map[string]string{}
		}
		model.Variables[NameVariable] = d.Name
	}
	q, err := flagger.Render(d.Template.Key(), d.Template.Query, model)
	return strings.TrimSpace(q), err
}

func newQuerier(ctx context.Context, t *Template, opts CheckOptions) (analysis.Querier, error) {
	spec := provider.Spec{Address: t.Address}
	if t.SecretName != "" {
		sec, err := opts.Client.Resource(secretResource).Namespace(t.Namespace).Get(ctx, t.SecretName, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("template %s: Secret %s/%s: %w", t.Key(), t.Namespace, t.SecretName, err)
		}
		data, _, _ := unstructured.NestedStringMap(sec.Object, "data")
		spec.SecretData = map[string][]byte{}
		for k, v := range data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("template %s: Secret %s/%s: data.%s is not base64", t.Key(), t.Namespace, t.SecretName, k)
			}
			spec.SecretData[k] = b
		}
	}
	q, err := opts.Factory(spec)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Key(), err)
	}
	return q, nil
}

// WriteCheckTable prints one row per DatadogMetric, then why each one that
// is not ready is not, and a summary line.
func WriteCheckTable(w io.Writer, sts []Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tDATADOGMETRIC\tACTIVE\tVALID\tVALUE\tUPDATED\tQUERY ONCE\tREADY")
	ready := 0
	var details []string
	for _, st := range sts {
		d := st.DatadogMetric
		updated := "-"
		if !st.UpdateTime.IsZero() {
			updated = now.Sub(st.UpdateTime).Round(time.Second).String() + " ago"
		}
		result := st.Result
		if st.short != "" {
			result = st.short
		}
		r := "yes"
		if st.Ready {
			ready++
		} else {
			r = "no"
			details = append(details, fmt.Sprintf("%s: %s", d.Ref(), st.Reason))
			if st.short != "" && !strings.HasSuffix(st.Reason, st.Result) {
				details = append(details, fmt.Sprintf("%s: query %s: %s", d.Ref(), st.Query, st.Result))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Namespace, d.Name, dash(st.Active), dash(st.Valid), dash(st.Value), updated, oneLine(result), r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(details) > 0 {
		fmt.Fprintln(w)
		for _, l := range details {
			fmt.Fprintln(w, oneLine(l))
		}
	}
	_, err := fmt.Fprintf(w, "%d of %d DatadogMetrics ready\n", ready, len(sts))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
