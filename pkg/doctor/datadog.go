package doctor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/extmetrics/extmetrics/pkg/migrate"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// datadogRef parses "datadogmetric@<namespace>:<name>" (the Cluster Agent's
// external metric name of a DatadogMetric).
func datadogRef(metric string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(strings.ToLower(metric), "datadogmetric@")
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	return ns, name, ok && ns != "" && name != ""
}

// checkDatadog: every DatadogMetric a template's rendered query names
// exists, is Active, Valid and recently Updated, and is always-active.
func (r *run) checkDatadog(ctx context.Context) {
	if r.tmpl == nil {
		return
	}
	users := map[[2]string][]string{} // DatadogMetric -> templates
	for _, ti := range r.tmpl.sorted() {
		for qs := range ti.queries {
			q, err := query.Parse(qs)
			if err != nil {
				continue
			}
			if ns, name, ok := datadogRef(q.Metric); ok {
				k := [2]string{ns, name}
				users[k] = appendUnique(users[k], ti.t.Key())
			}
		}
	}
	if len(users) == 0 {
		return
	}
	if crd, ok := r.inv.crds[DatadogMetricCRD]; ok && crd == nil {
		r.add(Finding{ID: "datadog.crd-missing", Severity: SeverityError, Object: Object{Kind: "CustomResourceDefinition", Name: DatadogMetricCRD},
			Message: fmt.Sprintf("%d template(s) query DatadogMetrics, but the DatadogMetric CRD is not installed", len(users)),
			Rollout: "the Cluster Agent serves none of them: every such check fails (not found) and the canaries roll back",
			Fix:     "install the Datadog Cluster Agent with DatadogMetric support (clusterAgent.metricsProvider.useDatadogMetrics=true)"})
		return
	}
	keys := slices.SortedFunc(maps.Keys(users), func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
	now := r.opts.Now()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.conc)
	r.progress.count("checking DatadogMetrics", len(keys))
	for _, k := range keys {
		g.Go(func() error {
			defer r.progress.step()
			obj, err := r.dyn.Resource(migrate.DatadogMetricResource).Namespace(k[0]).Get(gctx, k[1], metav1.GetOptions{})
			o := Object{Kind: "DatadogMetric", Namespace: k[0], Name: k[1]}
			det := map[string]string{"templates": listNames(users[k])}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierrors.IsNotFound(err):
				r.add(Finding{ID: "datadog.not-found", Severity: SeverityError, Object: o,
					Message: fmt.Sprintf("templates query datadogmetric@%s:%s, but DatadogMetric %s/%s does not exist", k[0], k[1], k[0], k[1]),
					Rollout: "the Cluster Agent answers not found: every check of those templates fails and the canaries roll back",
					Fix:     "create the DatadogMetric (extmetrics migrate datadog writes them) or correct the query", Details: det})
			case err != nil:
				r.cannotRead("DatadogMetric "+k[0]+"/"+k[1], o, err)
			default:
				r.datadogFindings(o, obj, det, now)
			}
			return nil
		})
	}
	_ = g.Wait()
}

func (r *run) datadogFindings(o Object, obj *unstructured.Unstructured, det map[string]string, now time.Time) {
	st := migrate.ReadDatadogMetricStatus(obj)
	det["active"], det["valid"], det["value"] = dash(st.Active), dash(st.Valid), dash(st.Value)
	if !st.UpdateTime.IsZero() {
		det["updated"] = now.Sub(st.UpdateTime).Round(1e9).String() + " ago"
	}
	always := obj.GetAnnotations()[migrate.AlwaysActiveAnnotation] == "true"
	fail := "every check of the templates using it fails (the Cluster Agent serves an error or nothing) and the canaries roll back"
	switch {
	case st.Valid == "False" || st.Error != "":
		msg := "Valid=False"
		if st.Error != "" {
			msg += ": " + st.Error
		}
		r.add(Finding{ID: "datadog.invalid", Severity: SeverityError, Object: o, Message: msg, Rollout: fail,
			Fix: "correct spec.query (try it in Datadog's metric explorer); the Error condition has Datadog's message", Details: det})
	case st.Active == "False":
		r.add(Finding{ID: "datadog.inactive", Severity: SeverityError, Object: o,
			Message: "Active=False: the Cluster Agent does not query it (no HPA references it and it is not annotated always-active)",
			Rollout: fail, Fix: fmt.Sprintf("annotate it %s: \"true\"", migrate.AlwaysActiveAnnotation), Details: det})
	case st.Active == "" || st.Valid == "" || st.UpdateTime.IsZero():
		r.add(Finding{ID: "datadog.no-status", Severity: SeverityError, Object: o,
			Message: "no status yet: the Cluster Agent has not processed it",
			Rollout: fail, Fix: "check the Cluster Agent runs with DatadogMetric support (DD_EXTERNAL_METRICS_PROVIDER_USE_DATADOGMETRIC_CRD=true) and its logs", Details: det})
	case now.Sub(st.UpdateTime) > r.opts.StaleAfter:
		r.add(Finding{ID: "datadog.stale", Severity: SeverityError, Object: o,
			Message: fmt.Sprintf("last updated %s ago (more than %s)", now.Sub(st.UpdateTime).Round(1e9), r.opts.StaleAfter),
			Rollout: "the Cluster Agent serves it as stale: checks fail", Fix: "check the Cluster Agent's logs and Datadog API rate limits", Details: det})
	}
	if !always {
		r.add(Finding{ID: "datadog.not-always-active", Severity: SeverityWarning, Object: o,
			Message: fmt.Sprintf("no annotation %s: \"true\": the Cluster Agent refreshes it only while an HPA or WPA references it", migrate.AlwaysActiveAnnotation),
			Rollout: "when the autoscaler referencing it goes away, the value stops updating and the canary checks fail (stale or not found)",
			Fix:     fmt.Sprintf("kubectl annotate datadogmetric -n %s %s %s=true", o.Namespace, o.Name, migrate.AlwaysActiveAnnotation), Details: det})
	}
}
