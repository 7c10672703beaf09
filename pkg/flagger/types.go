package flagger

import (
	"fmt"
	"strings"
)

// API groups, versions and kinds this package reads.
const (
	Group               = "flagger.app"
	CanaryAPIVersion    = "flagger.app/v1beta1"
	TemplateAPIVersion  = "flagger.app/v1beta1"
	TemplateV1alpha1    = "flagger.app/v1alpha1"
	KindCanary          = "Canary"
	KindMetricTemplate  = "MetricTemplate"
	KindSecret          = "Secret"
	KindList            = "List"
	ProviderExternal    = "externalmetrics" // the only provider type extmetrics runs
	ProviderDatadog     = "datadog"         // accepted only with Options.AcceptDatadog (migrate datadog)
	DefaultNamespace    = "default"
	BuiltinSuccessRate  = "request-success-rate"
	BuiltinDuration     = "request-duration"
	supportedProviderMs = `only MetricTemplates with spec.provider.type "externalmetrics" are supported`
)

// Source says where an object was read from.
type Source struct {
	File     string // as given ("-" is shown as "<stdin>")
	Document int    // 1-based document number in the file
	Item     string // "items[3]" when the object came from a List, else ""
	Line     int    // line of the object's first key
}

// String is "file: document N" (plus ": items[i]" inside a List).
func (s Source) String() string {
	str := fmt.Sprintf("%s: document %d", s.File, s.Document)
	if s.Item != "" {
		str += ": " + s.Item
	}
	return str
}

// ObjectRef is Flagger's CrossNamespaceObjectReference (and LocalObjectReference,
// which has only Name).
type ObjectRef struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
}

// Canary is the part of a flagger.app/v1beta1 Canary that analysis uses.
type Canary struct {
	Source    Source
	Name      string
	Namespace string
	// UID is metadata.uid when the Canary was read from a cluster (the
	// gate's informers: its Events name the Canary by it); "" from files.
	UID  string
	Spec CanarySpec
}

// Key is "namespace/name".
func (c *Canary) Key() string { return c.Namespace + "/" + c.Name }

// CanarySpec holds the spec fields extmetrics reads.
type CanarySpec struct {
	Provider     string
	TargetRef    ObjectRef
	IngressRef   *ObjectRef
	RouteRef     *ObjectRef
	Service      CanaryService
	SkipAnalysis bool
	// Analysis is spec.analysis, or the deprecated spec.canaryAnalysis when
	// analysis is absent (as Flagger's GetAnalysis does).
	Analysis *Analysis
	// AnalysisField is "spec.analysis" or "spec.canaryAnalysis": where Analysis came from.
	AnalysisField string
}

// CanaryService is spec.service.
type CanaryService struct {
	Name string
	Port int
}

// Analysis is spec.analysis.
type Analysis struct {
	Interval    string // "" means Flagger's default, 60s
	Iterations  int
	Mirror      bool
	MaxWeight   int
	StepWeight  int
	StepWeights []int
	Threshold   int // 0 means Flagger's default, 1
	Metrics     []Metric
	Webhooks    []Webhook
	Match       int // number of A/B match conditions
	Line        int
}

// Metric is one entry of spec.analysis.metrics.
type Metric struct {
	Name              string
	Interval          string // "" renders {{ interval }} empty, as in Flagger
	Threshold         float64
	HasThreshold      bool // the deprecated threshold field was written
	ThresholdRange    *ThresholdRange
	Query             string // inline query: refused
	TemplateRef       *ObjectRef
	TemplateVariables map[string]string
	Line              int
}

// Webhook is one entry of spec.analysis.webhooks (Flagger's CanaryWebhook).
// extmetrics runs only the rollout and pre-rollout webhooks that call an
// extmetrics gate (IsGateCheck), in-process; the others are noted.
type Webhook struct {
	Name     string
	Type     string // "" means rollout, as in Flagger
	URL      string
	Timeout  string
	Metadata map[string]string
	Field    string // e.g. "spec.analysis.webhooks[0]"
	Line     int
}

// Webhook types extmetrics runs (Flagger's HookType values).
const (
	HookRollout    = "rollout"
	HookPreRollout = "pre-rollout"
)

// GateCheckPath is the path of the extmetrics gate's Flagger endpoint: a
// webhook whose URL path ends with it calls the gate.
const GateCheckPath = "/flagger/v1/check"

// IsGateCheck reports whether the webhook calls an extmetrics gate: its URL
// path ends with GateCheckPath.
func (w *Webhook) IsGateCheck() bool {
	u := w.URL
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return strings.HasSuffix(strings.TrimRight(u, " "), GateCheckPath)
}

// HookType is the webhook's type with Flagger's default: "" is rollout.
func (w *Webhook) HookType() string {
	if w.Type == "" {
		return HookRollout
	}
	return w.Type
}

// ThresholdRange is a metric's accepted range; both bounds are inclusive.
type ThresholdRange struct {
	Min *float64
	Max *float64
}

// MetricTemplate is a flagger.app/v1beta1 (or v1alpha1) MetricTemplate.
type MetricTemplate struct {
	Source     Source
	APIVersion string
	Name       string
	Namespace  string
	Spec       MetricTemplateSpec
	// Annotations are metadata.annotations (the gate reads
	// extmetrics.dev/provider-type).
	Annotations map[string]string
}

// Key is "namespace/name".
func (t *MetricTemplate) Key() string { return t.Namespace + "/" + t.Name }

// MetricTemplateSpec is spec.
type MetricTemplateSpec struct {
	Provider MetricProvider
	Query    string
}

// MetricProvider is spec.provider.
type MetricProvider struct {
	Type               string
	Address            string
	InsecureSkipVerify bool
	SecretRef          *ObjectRef // only Name is used
	Region             string
}

// Secret is a v1 Secret; Data holds data (base64-decoded) merged with
// stringData (stringData wins, as the API server does).
type Secret struct {
	Source    Source
	Name      string
	Namespace string
	Type      string
	Data      map[string][]byte
}

// Key is "namespace/name".
func (s *Secret) Key() string { return s.Namespace + "/" + s.Name }

// String never shows the secret's values.
func (s *Secret) String() string {
	return fmt.Sprintf("Secret %s (%d keys)", s.Key(), len(s.Data))
}
