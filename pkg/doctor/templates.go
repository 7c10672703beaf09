package doctor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// GateAnnotation is the gate's annotation that makes a MetricTemplate an
// externalmetrics one for the gate whatever its spec.provider.type.
const GateAnnotation = gate.ProviderTypeAnnotation

// tmplInfo is one MetricTemplate doctor checks.
type tmplInfo struct {
	t         *flagger.MetricTemplate
	annotated bool                 // carries GateAnnotation
	origType  string               // spec.provider.type as written (before the gate's annotation)
	compat    []flagger.CompatNote // the query's notes (not the pod ones: checkFlaggerTemplates)
	// flaggerRuns: referenced from a Canary's analysis.metrics with type
	// externalmetrics, so Flagger's own provider runs it.
	flaggerRuns bool
	// viaGate: referenced from a gate webhook (templateRef metadata).
	viaGate   bool
	secret    *flagger.Secret
	secretBad bool // secretRef set, Secret missing or unreadable (reported)

	canaries map[string]bool // namespace/name of the canaries using it
	queries  map[string]bool // rendered queries
	querier  analysis.Querier
	specKey  string
	results  []useResult
}

type useResult struct {
	canary string
	metric string
	check  analysis.Check
}

func (ti *tmplInfo) object() Object {
	return Object{Kind: "MetricTemplate", Namespace: ti.t.Namespace, Name: ti.t.Name}
}

func (ti *tmplInfo) canaryNames() []string { return slices.Sorted(maps.Keys(ti.canaries)) }

// templateResults holds every template and resolved canary.
type templateResults struct {
	set      *flagger.Set
	byKey    map[string]*tmplInfo
	missing  map[string]bool // namespace/name looked up and absent
	resolved []*flagger.Resolved
}

func (tr *templateResults) sorted() []*tmplInfo {
	out := make([]*tmplInfo, 0, len(tr.byKey))
	for _, k := range slices.Sorted(maps.Keys(tr.byKey)) {
		out = append(out, tr.byKey[k])
	}
	return out
}

func objectOf(u *unstructured.Unstructured) Object {
	return Object{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// addTemplate decodes a MetricTemplate into the set.
func (r *run) addTemplate(u *unstructured.Unstructured) *tmplInfo {
	tr := r.tmpl
	set, err := flagger.DecodeUnstructured(u)
	if err == nil && len(set.Templates) != 1 {
		err = fmt.Errorf("not decoded (apiVersion %q)", u.GetAPIVersion())
	}
	if err != nil {
		r.add(Finding{
			ID: "template.invalid", Severity: SeverityError, Object: objectOf(u),
			Message: oneLine(err.Error()),
			Rollout: "Flagger cannot use it: every canary referencing it fails",
			Fix:     "correct the MetricTemplate",
		})
		return nil
	}
	t := set.Templates[0]
	ti := &tmplInfo{t: t, annotated: u.GetAnnotations()[GateAnnotation] == flagger.ProviderExternal,
		canaries: map[string]bool{}, queries: map[string]bool{}}
	ti.origType = t.Spec.Provider.Type
	gate.ApplyAnnotations(t, u.GetAnnotations())
	tr.set.Templates = append(tr.set.Templates, t)
	tr.byKey[t.Key()] = ti
	return ti
}

// template returns the template namespace/name, reading it from the
// cluster when the inventory does not hold it.
func (r *run) template(ctx context.Context, ns, name string) *tmplInfo {
	tr := r.tmpl
	k := ns + "/" + name
	if ti, ok := tr.byKey[k]; ok {
		return ti
	}
	if tr.missing[k] {
		return nil
	}
	tr.missing[k] = true
	if r.inv.crds[TemplateCRD] == nil {
		return nil
	}
	u, err := r.dyn.Resource(templateGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			r.cannotRead("MetricTemplate "+k, Object{Kind: "MetricTemplate", Namespace: ns, Name: name}, err)
		}
		return nil
	}
	return r.addTemplate(u)
}

// resolveSecret finds the template's secretRef: the files', else the cluster's.
func (r *run) resolveSecret(ctx context.Context, ti *tmplInfo) {
	ref := ti.t.Spec.Provider.SecretRef
	if ref == nil || ti.secret != nil || ti.secretBad {
		return
	}
	ns := ti.t.Namespace
	if sec := r.tmpl.set.Secret(ns, ref.Name); sec != nil {
		ti.secret = sec
	} else {
		s, err := r.kube.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			ti.secretBad = true
			r.add(Finding{
				ID: "template.secret-missing", Severity: SeverityError, Object: ti.object(),
				Message: fmt.Sprintf("spec.provider.secretRef names Secret %s/%s, which does not exist (it must be in the template's namespace)", ns, ref.Name),
				Rollout: "Flagger cannot build the provider: every check of this template fails and the canaries using it roll back",
				Fix:     fmt.Sprintf("create Secret %s/%s (key token, and ca.crt or tls.crt/tls.key as needed)", ns, ref.Name),
			})
			return
		case err != nil:
			ti.secretBad = true
			r.cannotRead("Secret "+ns+"/"+ref.Name, Object{Kind: "Secret", Namespace: ns, Name: ref.Name}, err)
			return
		}
		data := make(map[string][]byte, len(s.Data)+len(s.StringData))
		maps.Copy(data, s.Data)
		for k, v := range s.StringData {
			data[k] = []byte(v)
		}
		ti.secret = &flagger.Secret{Name: s.Name, Namespace: s.Namespace, Type: string(s.Type), Data: data}
		r.tmpl.set.Secrets = append(r.tmpl.set.Secrets, ti.secret)
	}
	r.checkSecretKeys(ti)
}

// checkSecretKeys: does the Secret hold the keys the provider needs?
func (r *run) checkSecretKeys(ti *tmplInfo) {
	d := ti.secret.Data
	_, tok := d[provider.SecretKeyToken]
	_, ca := d["ca.crt"]
	_, crt := d["tls.crt"]
	_, key := d["tls.key"]
	keys := strings.Join(slices.Sorted(maps.Keys(d)), ", ")
	f := Finding{ID: "template.secret-keys", Object: ti.object(), Details: map[string]string{"secret": ti.secret.Key(), "keys": dash(keys)}}
	switch {
	case crt != key:
		f.Severity = SeverityError
		f.Message = fmt.Sprintf("Secret %s has only one of tls.crt and tls.key", ti.secret.Key())
		f.Rollout = "the provider cannot be built: every check of this template fails"
		f.Fix = "put both tls.crt and tls.key in the Secret, or neither"
	case !tok && !ca && !crt:
		f.Severity = SeverityError
		f.Message = fmt.Sprintf("Secret %s has none of the keys the externalmetrics provider reads (token, ca.crt, tls.crt/tls.key)", ti.secret.Key())
		f.Rollout = "requests go without the credentials the template meant to send: 401/403, every check fails"
		f.Fix = "store the bearer token under key token (and the server's CA under ca.crt)"
	case !tok && !crt && ti.t.Spec.Provider.Address != "":
		f.Severity = SeverityWarning
		f.Message = fmt.Sprintf("Secret %s has no token for the address %s", ti.secret.Key(), ti.t.Spec.Provider.Address)
		f.Rollout = "requests to the address carry no credential; a server that authenticates answers 401 and every check fails"
		f.Fix = "store the bearer token for that server under key token"
	default:
		return
	}
	r.add(f)
}

// gateWebhookMetrics turns a Canary's webhooks that call the gate with a
// templateRef into metrics (thresholdRange from min/max), so they render
// and run like analyze runs metrics. The metadata is read by the gate's own
// reading (gate.WebhookRequest); a webhook the gate would refuse is
// returned in bad with the gate's reason.
func gateWebhookMetrics(c *flagger.Canary) (out []flagger.Metric, bad map[string]error) {
	if c.Spec.Analysis == nil {
		return nil, nil
	}
	for i := range c.Spec.Analysis.Webhooks {
		h := &c.Spec.Analysis.Webhooks[i]
		if !h.IsGateCheck() {
			continue
		}
		req, err := gate.WebhookRequest(c.Namespace, c.Name, h.Metadata)
		if err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[h.Name] = err
			continue
		}
		if req.TemplateRef == "" {
			continue
		}
		ns, tname, ok := strings.Cut(req.TemplateRef, "/")
		if !ok {
			ns, tname = "", req.TemplateRef
		}
		metric := flagger.Metric{Name: "webhook " + h.Name, TemplateRef: &flagger.ObjectRef{Name: tname, Namespace: ns},
			Interval: req.Interval, TemplateVariables: req.Variables}
		if req.Min != nil || req.Max != nil {
			metric.ThresholdRange = &flagger.ThresholdRange{Min: req.Min, Max: req.Max}
		}
		out = append(out, metric)
	}
	return out, bad
}

// prepareTemplates decodes templates and canaries and resolves every
// canary's externalmetrics metrics (and gate webhooks) as analyze does.
func (r *run) prepareTemplates() {
	ctx := context.Background()
	tr := &templateResults{set: flagger.NewSet(flagger.Options{}), byKey: map[string]*tmplInfo{}, missing: map[string]bool{}}
	r.tmpl = tr
	for _, u := range r.inv.templates {
		r.addTemplate(u)
	}
	for _, u := range r.inv.secrets {
		set, err := flagger.DecodeUnstructured(u)
		if err == nil && len(set.Secrets) == 1 {
			tr.set.Secrets = append(tr.set.Secrets, set.Secrets[0])
		}
	}
	for _, u := range r.inv.canaries {
		set, err := flagger.DecodeUnstructured(u)
		if err == nil && len(set.Canaries) != 1 {
			err = fmt.Errorf("not decoded (apiVersion %q)", u.GetAPIVersion())
		}
		if err != nil {
			r.add(Finding{
				ID: "canary.invalid", Severity: SeverityError, Object: objectOf(u),
				Message: oneLine(err.Error()), Rollout: "Flagger cannot analyse it as written", Fix: "correct the Canary",
			})
			continue
		}
		c := set.Canaries[0]
		a := c.Spec.Analysis
		if a == nil || c.Spec.SkipAnalysis {
			continue
		}
		cobj := Object{Kind: "Canary", Namespace: c.Namespace, Name: c.Name}
		var metrics []flagger.Metric
		var used []*tmplInfo
		consider := func(m flagger.Metric, webhook bool) {
			ns := c.Namespace
			if m.TemplateRef.Namespace != "" {
				ns = m.TemplateRef.Namespace
			}
			ti := r.template(ctx, ns, m.TemplateRef.Name)
			if ti == nil {
				r.add(Finding{
					ID: "canary.template-not-found", Severity: SeverityError, Object: cobj,
					Message: fmt.Sprintf("metric %q references MetricTemplate %s/%s, which does not exist", m.Name, ns, m.TemplateRef.Name),
					Rollout: "Flagger fails the analysis at every check (or the gate answers not found): the canary rolls back",
					Fix:     "create the MetricTemplate, or correct templateRef (a template in another namespace needs templateRef.namespace)",
				})
				return
			}
			// Flagger runs a metric's template with its own type; the gate
			// runs annotated ones as externalmetrics.
			if (webhook && ti.t.Spec.Provider.Type != flagger.ProviderExternal) || (!webhook && ti.origType != flagger.ProviderExternal) {
				return // not an externalmetrics template: not doctor's
			}
			if webhook {
				ti.viaGate = true
			} else {
				ti.flaggerRuns = true
			}
			r.resolveSecret(ctx, ti)
			if ti.secretBad {
				return
			}
			m.TemplateRef = &flagger.ObjectRef{Name: ti.t.Name, Namespace: ti.t.Namespace}
			metrics = append(metrics, m)
			used = append(used, ti)
		}
		for _, m := range a.Metrics {
			if m.TemplateRef != nil && m.TemplateRef.Name != "" && m.Query == "" {
				consider(m, false)
			}
		}
		hooks, bad := gateWebhookMetrics(c)
		for _, name := range slices.Sorted(maps.Keys(bad)) {
			r.add(Finding{
				ID: "canary.invalid", Severity: SeverityError, Object: cobj,
				Message: oneLine(fmt.Sprintf("webhook %q calls the gate, which refuses its metadata: %v", name, bad[name])),
				Rollout: "the gate answers 400 at every call: Flagger counts a failed check each time and rolls the canary back",
				Fix:     "correct the webhook's metadata (docs/gate.md#flagger)",
			})
		}
		for _, m := range hooks {
			consider(m, true)
		}
		if len(metrics) == 0 {
			continue
		}
		a2 := *a
		a2.Metrics, a2.Webhooks = metrics, nil
		c2 := *c
		c2.Spec.Analysis = &a2
		if _, err := analysis.NewPlan(&c2); err != nil {
			r.add(Finding{
				ID: "canary.invalid", Severity: SeverityError, Object: cobj,
				Message: oneLine(err.Error()), Rollout: "Flagger cannot run this analysis as written", Fix: "correct spec.analysis",
			})
			continue
		}
		res, errs := tr.set.ResolveCanary(&c2)
		for _, err := range errs {
			r.add(Finding{
				ID: "canary.invalid", Severity: SeverityError, Object: cobj,
				Message: oneLine(err.Error()), Rollout: "every check of this metric fails: the canary rolls back", Fix: "correct the metric or its template",
			})
		}
		if res == nil || len(res.Checks) == 0 {
			continue
		}
		for _, ch := range res.Checks {
			ti := tr.byKey[ch.Template.Key()]
			ti.canaries[c.Key()] = true
			ti.queries[ch.Query] = true
		}
		tr.resolved = append(tr.resolved, res)
	}
	for _, ti := range tr.sorted() {
		if len(ti.canaries) == 0 && ti.t.Spec.Provider.Type == flagger.ProviderExternal {
			r.add(Finding{
				ID: "template.unused", Severity: SeverityInfo, Object: ti.object(),
				Message: "no Canary in scope references this externalmetrics template, so it was not queried",
			})
		}
	}
}

// specKey identifies a provider spec (address, insecureSkipVerify, secret
// data): templates with equal specs share one provider.
func specKey(s provider.Spec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %v\n", s.Address, s.InsecureSkipVerify)
	for _, k := range slices.Sorted(maps.Keys(s.SecretData)) {
		fmt.Fprintf(h, "%q %x\n", k, sha256.Sum256(s.SecretData[k]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkTemplates runs every resolved canary's checks once, through
// analysis.Runner (the renderer, the check and the connection rule analyze
// uses), at most Concurrency canaries at a time.
func (r *run) checkTemplates(ctx context.Context) {
	tr := r.tmpl
	if len(tr.resolved) == 0 {
		return
	}
	factory := r.opts.Connection.Factory()
	queriers := map[string]analysis.Querier{}
	bad := map[string]bool{}
	for _, ti := range tr.sorted() {
		if len(ti.canaries) == 0 {
			continue
		}
		spec := provider.Spec{Address: ti.t.Spec.Provider.Address, InsecureSkipVerify: ti.t.Spec.Provider.InsecureSkipVerify}
		if ti.secret != nil {
			spec.SecretData = maps.Clone(ti.secret.Data)
		}
		ti.specKey = specKey(spec)
		if q, ok := queriers[ti.specKey]; ok {
			ti.querier = q
			continue
		}
		q, err := factory(spec)
		if err != nil {
			bad[ti.t.Key()] = true
			r.add(Finding{
				ID: "template.provider-error", Severity: SeverityError, Object: ti.object(),
				Message: oneLine(err.Error()),
				Rollout: "no check of this template can run: the canaries using it roll back",
				Fix:     "correct spec.provider (address, insecureSkipVerify) or the Secret's ca.crt/tls.crt/tls.key",
			})
			continue
		}
		queriers[ti.specKey], ti.querier = q, q
	}
	memo := func(spec provider.Spec) (analysis.Querier, error) {
		if q, ok := queriers[specKey(spec)]; ok {
			return q, nil
		}
		return factory(spec)
	}
	runner := &analysis.Runner{Factory: memo, Once: true}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.conc)
	r.progress.count("querying templates", len(tr.resolved))
	for _, res := range tr.resolved {
		checks := slices.DeleteFunc(slices.Clone(res.Checks), func(ch flagger.Check) bool { return bad[ch.Template.Key()] })
		if len(checks) == 0 {
			r.progress.step()
			continue
		}
		one := &flagger.Resolved{Canary: res.Canary, Checks: checks}
		g.Go(func() error {
			defer r.progress.step()
			rep, err := runner.Run(gctx, []*flagger.Resolved{one})
			if err != nil {
				r.add(Finding{
					ID: "canary.invalid", Severity: SeverityError, Object: Object{Kind: "Canary", Namespace: one.Canary.Namespace, Name: one.Canary.Name},
					Message: oneLine(err.Error()), Rollout: "Flagger cannot run this analysis as written", Fix: "correct the Canary",
				})
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			for _, cr := range rep.Canaries {
				for _, mr := range cr.Metrics {
					ti := tr.byKey[mr.TemplateRef]
					if ti == nil || len(mr.Checks) == 0 {
						continue
					}
					ti.results = append(ti.results, useResult{canary: cr.Namespace + "/" + cr.Name, metric: mr.Name, check: mr.Checks[0]})
					for _, note := range mr.CompatNotes() {
						if !strings.HasPrefix(note.Code, podCompatPrefix) && !slices.Contains(ti.compat, note) {
							ti.compat = append(ti.compat, note)
						}
					}
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, ti := range tr.sorted() {
		r.templateFindings(ti)
	}
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// kindFinding is what a failed check's error kind means.
var kindFinding = map[string]struct{ id, what, fix string }{
	"ambiguous":     {"template.ambiguous", "several series match and the query names no aggregate=: the check fails closed", "narrow the labelSelector to one series, or add &aggregate=sum|avg|min|max|first to the query"},
	"stale":         {"template.stale", "the newest item is older than the staleness bound: the check fails closed", "find out why the server stopped refreshing the metric (DatadogMetric Active? KEDA scaler healthy?), or set &maxAge= in the query"},
	"no-values":     {"template.no-values", "the server answered with no items for the query: the check fails closed", "compare the metric name and labelSelector with `extmetrics list` and the server's configuration; the series may not exist yet"},
	"forbidden":     {"template.forbidden", "the server refused the query (403)", "grant get/list on external.metrics.k8s.io for this namespace to the identity that queries (doctor's for this run; Flagger's service account in the rollout)"},
	"unauthorized":  {"template.unauthorized", "the server refused the credentials (401)", "store a valid token in the template's Secret (key token), or fix the kubeconfig"},
	"not-found":     {"template.not-found", "the server does not know the metric (404)", "check the metric name against the server (extmetrics list); for the Cluster Agent the DatadogMetric must exist"},
	"unavailable":   {"template.unavailable", "the server did not answer (5xx, network error or timeout)", "make the server reachable: APIService Available, address and port right, certificate valid"},
	"invalid-query": {"template.invalid-query", "the query is not valid", "correct the query (docs/query-grammar.md)"},
}

// templateFindings turns a template's results into findings: one per error
// kind (naming the canaries), one summary of the passing checks.
func (r *run) templateFindings(ti *tmplInfo) {
	if len(ti.results) == 0 {
		return
	}
	byKind := map[string][]useResult{}
	var passed []useResult
	for _, u := range ti.results {
		if u.check.Passed {
			passed = append(passed, u)
			continue
		}
		byKind[u.check.ErrorKind] = append(byKind[u.check.ErrorKind], u)
	}
	for _, kind := range slices.Sorted(maps.Keys(byKind)) {
		us := byKind[kind]
		first := us[0]
		canaries := make([]string, 0, len(us))
		for _, u := range us {
			canaries = append(canaries, u.canary)
		}
		slices.Sort(canaries)
		canaries = slices.Compact(canaries)
		f := Finding{Object: ti.object(), Severity: SeverityError, Details: checkDetails(first)}
		f.Details["canaries"] = listNames(canaries)
		switch kf, ok := kindFinding[kind]; {
		case kind == analysis.KindOutOfRange:
			f.ID, f.Severity = "template.out-of-range", SeverityWarning
			f.Message = fmt.Sprintf("the value now is outside the metric's range for %d canary check(s): %s", len(us), first.check.Message)
			f.Rollout = "a rollout started now would count failed checks and roll back unless the value changes"
			f.Fix = "nothing if the value is expected to change; otherwise check the query and thresholdRange"
		case ok:
			f.ID = kf.id
			f.Message = fmt.Sprintf("%s (%d canary check(s)): %s", kf.what, len(us), first.check.Message)
			f.Rollout = "every check of this template fails: the canaries using it roll back once analysis.threshold is reached"
			f.Fix = kf.fix
		default:
			f.ID = "template.query-failed"
			f.Message = fmt.Sprintf("the query failed (%s) for %d canary check(s): %s", kind, len(us), first.check.Message)
			f.Rollout = "every check of this template fails: the canaries using it roll back"
			f.Fix = "see the message; `extmetrics query` runs the query alone"
		}
		r.add(f)
	}
	for _, note := range ti.compat {
		if !ti.flaggerRuns {
			continue
		}
		r.add(Finding{
			ID: "template.flagger-compat", Severity: SeverityWarning, Object: ti.object(),
			Message: note.Text, Details: map[string]string{"code": note.Code},
			Rollout: "Flagger's own provider judges this query differently from extmetrics: its verdict may differ from this check's",
			Fix:     "rewrite the query so both agree, or run it through the gate",
		})
	}
	if len(passed) > 0 {
		lo, hi := passed[0].check.Value, passed[0].check.Value
		var oldest time.Duration
		for _, u := range passed {
			lo, hi = min(lo, u.check.Value), max(hi, u.check.Value)
			oldest = max(oldest, u.check.Age)
		}
		d := checkDetails(passed[0])
		d["checks"] = strconv.Itoa(len(passed))
		d["values"] = analysis.FormatValue(lo) + ".." + analysis.FormatValue(hi)
		if oldest > 0 {
			d["oldestAge"] = oldest.Round(time.Second).String()
		}
		r.add(Finding{
			ID: "template.ok", Severity: SeverityInfo, Object: ti.object(),
			Message: fmt.Sprintf("%d canary check(s) passed now (values %s..%s)", len(passed), analysis.FormatValue(lo), analysis.FormatValue(hi)),
			Details: d,
		})
	}
}

func checkDetails(u useResult) map[string]string {
	d := map[string]string{"canary": u.canary, "metric": u.metric, "query": u.check.Query, "items": strconv.Itoa(u.check.Matched)}
	if u.check.HasValue {
		d["value"] = analysis.FormatValue(u.check.Value)
	}
	if u.check.Age > 0 {
		d["age"] = u.check.Age.Round(time.Second).String()
	}
	if u.check.ErrorKind != "" {
		d["errorKind"] = u.check.ErrorKind
	}
	return d
}
