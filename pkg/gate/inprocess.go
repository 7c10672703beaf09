package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// The gate in-process: analyze runs a Canary's webhooks that call the gate
// (flagger.Webhook.IsGateCheck) with a Gate built over the objects it
// loaded (SetObjects) and the gate's --config (its --gate-config), through
// FlaggerCheck — the code path of POST /flagger/v1/check — so the verdict
// and the message are the gate's. *Gate implements analysis.GateChecker.

var _ analysis.GateChecker = (*Gate)(nil)

// DefaultWebhookTimeout is Flagger's timeout of a webhook call without
// one (pkg/controller.CallWebhook).
const DefaultWebhookTimeout = 10 * time.Second

// ValidateWebhook implements analysis.GateChecker: the metadata as the
// gate reads it (keys, bounds, baseline), the named provider (the gate's
// --config must have it) and the MetricTemplates it references; nil when
// the webhook can run. Nothing is queried.
func (g *Gate) ValidateWebhook(c *flagger.Canary, w *flagger.Webhook) error {
	req, err := WebhookRequest(c.Namespace, c.Name, w.Metadata)
	if err == nil && req.Provider != "" {
		if _, _, perr := g.registry.Named(req.Provider); perr != nil {
			if errorKind(perr) == KindUnknownProvider {
				return fmt.Errorf("metadata.provider %q is a named provider of the gate's --config, which names %s: give analyze the gate's config file (--gate-config FILE)",
					req.Provider, providerList(g.registry.Names()))
			}
			err = perr
		}
	}
	for _, ref := range []string{req.TemplateRef, req.BaselineTemplateRef} {
		if err == nil && ref != "" {
			_, err = g.template(&req, ref)
		}
	}
	if err != nil {
		return fmt.Errorf("%s", errorMessage(err))
	}
	return nil
}

func providerList(names []string) string {
	if len(names) == 0 {
		return "no provider (no --gate-config given)"
	}
	return strings.Join(names, ", ")
}

// WebhookRequest reads a Flagger webhook's metadata for the Canary
// namespace/name as POST /flagger/v1/check reads it: the one reading of the
// keys (unknown ones, numbers that are not, inconsistent bounds and a
// baseline without a relative bound are errors, worded as the gate's 400).
// doctor and analyze use it; nothing is looked up or queried.
func WebhookRequest(namespace, name string, metadata map[string]string) (Request, error) {
	req, err := flaggerRequest(&FlaggerPayload{Name: name, Namespace: namespace, Metadata: metadata})
	if err == nil {
		err = req.validate()
	}
	if err != nil {
		return req, errors.New(errorMessage(err))
	}
	return req, nil
}

// payload is what Flagger POSTs for the webhook (phase Progressing: the
// rollout and pre-rollout webhooks').
func payload(c *flagger.Canary, w *flagger.Webhook) *FlaggerPayload {
	return &FlaggerPayload{Name: c.Name, Namespace: c.Namespace, Phase: "Progressing", Metadata: w.Metadata}
}

// CheckWebhook implements analysis.GateChecker: FlaggerCheck with the
// payload Flagger sends, within the webhook's timeout (Flagger's default
// 10s), turned into the report's terms.
func (g *Gate) CheckWebhook(ctx context.Context, c *flagger.Canary, w *flagger.Webhook) analysis.GateCheck {
	timeout := DefaultWebhookTimeout
	if d, err := time.ParseDuration(w.Timeout); err == nil && d > 0 {
		timeout = d
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a := g.FlaggerCheck(ctx, payload(c, w))
	r := a.Result
	gc := analysis.GateCheck{
		Passed: a.Status/100 == 2, Status: a.Status, Message: a.Reason,
		Template: r.Template, Provider: r.Provider, Query: r.Query, BaselineQuery: r.BaselineQuery,
		Baseline: r.Baseline, Ratio: r.Ratio, Delta: r.Delta, Bounds: r.bounds(), Matched: r.Matched, ErrorKind: r.ErrorKind,
	}
	if r.Value != nil {
		gc.HasValue, gc.Value = true, *r.Value
	}
	gc.Latency, _ = time.ParseDuration(r.Latency)
	now := g.now()
	for _, it := range r.Items {
		if it.Timestamp.After(gc.Newest) {
			gc.Newest = it.Timestamp
		}
	}
	if !gc.Newest.IsZero() {
		gc.Age = now.Sub(gc.Newest)
	}
	return gc
}

// SetObjects serves the objects of a flagger.Set (read from files) as
// Objects, with the gate's annotations applied to MetricTemplates (on
// copies made once: the set is not changed). Safe for concurrent reads.
type SetObjects struct {
	set       *flagger.Set
	annotated map[string]*flagger.MetricTemplate // namespace/name
}

var _ Objects = (*SetObjects)(nil)

// NewSetObjects serves set, which must not change afterwards.
func NewSetObjects(set *flagger.Set) *SetObjects {
	s := &SetObjects{set: set, annotated: map[string]*flagger.MetricTemplate{}}
	for _, t := range set.Templates {
		if t.Annotations[ProviderTypeAnnotation] != "" {
			c := *t
			ApplyAnnotations(&c, t.Annotations)
			s.annotated[t.Key()] = &c
		}
	}
	return s
}

// MetricTemplate implements Objects.
func (s *SetObjects) MetricTemplate(ns, name string) (*flagger.MetricTemplate, error) {
	if t := s.annotated[ns+"/"+name]; t != nil {
		return t, nil
	}
	if t := s.set.Template(ns, name); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("MetricTemplate %s/%s: %w", ns, name, ErrNotFound)
}

// Secret implements Objects.
func (s *SetObjects) Secret(ns, name string) (*flagger.Secret, error) {
	if sec := s.set.Secret(ns, name); sec != nil {
		return sec, nil
	}
	return nil, fmt.Errorf("Secret %s/%s: %w", ns, name, ErrNotFound)
}

// Canary implements Objects.
func (s *SetObjects) Canary(ns, name string) (*flagger.Canary, error) {
	for _, c := range s.set.Canaries {
		if c.Namespace == ns && c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("Canary %s/%s: %w", ns, name, ErrNotFound)
}
