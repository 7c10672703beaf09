package metricplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/argoproj/argo-rollouts/metricproviders/plugin/rpc"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/evaluate"
	"github.com/argoproj/argo-rollouts/utils/plugin/types"
	"github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// ProviderType is what Type returns: Argo's type for RPC plugin providers.
const ProviderType = "RPCPlugin"

// Metadata keys set on measurements.
const (
	MetaQuery  = "query"  // the canonical query that ran (after Argo's templating)
	MetaItems  = "items"  // number of items the server returned
	MetaServer = "server" // base URL of the server

	// With a baseline (the measured value is the ratio or the delta):
	MetaBaselineQuery = "baselineQuery" // the canonical baseline query
	MetaCanary        = "canary"        // the canary's raw value
	MetaBaseline      = "baseline"      // the baseline's raw value
	MetaRatio         = "ratio"         // canary ÷ baseline, "undefined" for a baseline ≤ 0
	MetaDelta         = "delta"         // canary − baseline
	MetaBaselineItems = "baselineItems" // items the server returned for the baseline
)

// secretTimeout bounds reading the secretRef Secret.
const secretTimeout = 10 * time.Second

// Options configure a Plugin; zero values mean defaults.
type Options struct {
	// RESTConfig returns the controller's configuration, used for queries
	// without address (the aggregation layer) and to read Secrets. Default:
	// LoadConfig(""). Called until it succeeds; the result is kept.
	RESTConfig func() (*rest.Config, error)
	// Secrets reads secretRef Secrets; default: a clientset on RESTConfig.
	Secrets SecretGetter
	// Provider is the base of every provider's options (retries, backoff,
	// clock, metrics); the configuration's timeout overrides its Timeout.
	Provider provider.Options
	// Logger receives one line per measurement (never a credential);
	// default: discard.
	Logger *slog.Logger
}

// Plugin implements Argo Rollouts' rpc.MetricProviderPlugin. It is safe for
// concurrent use (Argo measures metrics in parallel).
type Plugin struct {
	opts   Options
	log    *slog.Logger
	argoLg logrus.Entry // for evaluate.EvaluateResult

	mu      sync.Mutex
	base    *rest.Config
	secrets SecretGetter
}

var _ rpc.MetricProviderPlugin = (*Plugin)(nil)

// New returns a plugin.
func New(opts Options) *Plugin {
	if opts.RESTConfig == nil {
		opts.RESTConfig = func() (*rest.Config, error) { return LoadConfig("") }
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return &Plugin{opts: opts, log: lg, argoLg: *logrus.NewEntry(l), secrets: opts.Secrets}
}

// baseConfig returns the controller's configuration, loading it once.
func (p *Plugin) baseConfig() (*rest.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.base != nil {
		return p.base, nil
	}
	cfg, err := p.opts.RESTConfig()
	if err != nil {
		return nil, err
	}
	p.base = cfg
	return cfg, nil
}

func (p *Plugin) secretGetter() (SecretGetter, error) {
	p.mu.Lock()
	s := p.secrets
	p.mu.Unlock()
	if s != nil {
		return s, nil
	}
	base, err := p.baseConfig()
	if err != nil {
		return nil, err
	}
	s, err = NewKubeSecrets(base)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.secrets = s
	p.mu.Unlock()
	return s, nil
}

// InitPlugin loads the controller's configuration. A failure is logged, not
// returned: metrics with an address and secretRef do not need it, and the
// others report it in their measurement.
func (p *Plugin) InitPlugin() types.RpcError {
	if _, err := p.baseConfig(); err != nil {
		p.log.Warn("no cluster configuration; metrics without address will fail", "err", err)
	}
	return types.RpcError{}
}

// Run takes one measurement: read the metric, evaluate the metric's
// successCondition / failureCondition with Argo's evaluation. It returns a
// completed measurement (Successful, Failed, Inconclusive or Error).
func (p *Plugin) Run(run *v1alpha1.AnalysisRun, metric v1alpha1.Metric) v1alpha1.Measurement {
	start := metav1.Now()
	m := p.measure(context.Background(), run, metric)
	m.StartedAt = &start
	return m
}

func (p *Plugin) measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric) (m v1alpha1.Measurement) {
	began := time.Now()
	var cfg *Config
	defer func() {
		now := metav1.Now()
		m.FinishedAt = &now
		attrs := []any{"metric", metric.Name, "phase", string(m.Phase), "duration", time.Since(began).Round(time.Microsecond)}
		if run != nil {
			attrs = append(attrs, "analysisRun", run.Namespace+"/"+run.Name)
		}
		if cfg != nil {
			attrs = append(attrs, "query", cfg.Canonical)
		}
		if m.Phase == v1alpha1.AnalysisPhaseError {
			p.log.Warn("measurement", append(attrs, "message", m.Message)...)
		} else {
			p.log.Info("measurement", append(attrs, "value", m.Value)...)
		}
	}()
	fail := func(err error) v1alpha1.Measurement {
		m.Phase = v1alpha1.AnalysisPhaseError
		m.Message = err.Error()
		return m
	}
	if run == nil {
		return fail(errors.New(PluginName + ": no AnalysisRun given"))
	}
	raw, ok := metric.Provider.Plugin[PluginName]
	if !ok {
		return fail(fmt.Errorf("%s: metric %q has no provider.plugin[%q]", PluginName, metric.Name, PluginName))
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return fail(err)
	}
	m.Metadata = map[string]string{MetaQuery: cfg.Canonical}
	if cfg.Baseline != "" {
		m.Metadata[MetaBaselineQuery] = cfg.Baseline
	}

	prov, err := p.provider(ctx, run.Namespace, cfg)
	if err != nil {
		return fail(err)
	}
	m.Metadata[MetaServer] = prov.Server()
	// The one check, without bounds: Argo's conditions judge the value
	// (with a baseline: the ratio or the delta, both sides read at once).
	c := analysis.RunCheck(ctx, prov, analysis.CheckSpec{Query: cfg.Canonical, Baseline: cfg.Baseline,
		Staleness: analysis.Staleness{MaxAge: cfg.StaleAfter, Interval: metricInterval(metric)}})
	if c.Verdict == analysis.VerdictError {
		if c.Side != "" || c.Err == nil {
			return fail(errors.New(c.Message)) // names the side that failed
		}
		return fail(c.Err)
	}
	m.Metadata[MetaItems] = strconv.Itoa(c.Matched)
	value := c.Value
	if cfg.Baseline != "" {
		b := c.Baseline
		m.Metadata[MetaCanary] = formatFloat(c.Value)
		m.Metadata[MetaBaseline] = formatFloat(b.Value)
		m.Metadata[MetaBaselineItems] = strconv.Itoa(b.Matched)
		m.Metadata[MetaRatio] = "undefined"
		if c.Ratio != nil {
			m.Metadata[MetaRatio] = formatFloat(*c.Ratio)
		}
		if c.Delta != nil {
			m.Metadata[MetaDelta] = formatFloat(*c.Delta)
		}
		switch {
		case cfg.Compare == CompareRatio && c.Ratio == nil:
			// Fail closed: no ratio to judge.
			return fail(fmt.Errorf("%s: ratio undefined: baseline %s is not > 0 (canary %s); compare: delta judges canary − baseline instead",
				PluginName, formatFloat(b.Value), formatFloat(c.Value)))
		case cfg.Compare == CompareRatio:
			value = *c.Ratio
		case c.Delta == nil:
			return fail(fmt.Errorf("%s: delta of canary %s and baseline %s is not finite", PluginName, formatFloat(c.Value), formatFloat(b.Value)))
		default:
			value = *c.Delta
		}
	}
	m.Value = formatFloat(value)
	phase, err := evaluate.EvaluateResult(value, metric, p.argoLg)
	if err != nil {
		return fail(err)
	}
	m.Phase = phase
	return m
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// metricInterval is the metric's interval (0 when it has none or it does
// not parse: Argo measures once), for the default staleness bound.
func metricInterval(metric v1alpha1.Metric) time.Duration {
	d, err := metric.Interval.Duration()
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// provider builds the provider for cfg with the one connection rule
// (provider.Connection): the controller's configuration without address,
// only the Secret's credentials with one.
func (p *Plugin) provider(ctx context.Context, namespace string, cfg *Config) (*provider.Provider, error) {
	spec := provider.Spec{Address: cfg.Address, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.SecretRef != nil {
		sg, err := p.secretGetter()
		if err != nil {
			return nil, fmt.Errorf("%s: secretRef: cannot read Secrets: %v", PluginName, err)
		}
		sctx, cancel := context.WithTimeout(ctx, secretTimeout)
		data, err := sg.SecretData(sctx, namespace, cfg.SecretRef.Name)
		cancel()
		if errors.Is(err, ErrSecretNotFound) {
			return nil, &ConfigError{Field: "secretRef.name", Msg: fmt.Sprintf("secret %q not found in namespace %q (the AnalysisRun's)", cfg.SecretRef.Name, namespace)}
		}
		if err != nil {
			return nil, &ConfigError{Field: "secretRef.name", Msg: fmt.Sprintf("reading secret %s/%s: %v", namespace, cfg.SecretRef.Name, err)}
		}
		sd, err := specFromSecret(data, cfg.SecretRef, namespace)
		if err != nil {
			return nil, err
		}
		spec.SecretData = sd
	}
	opts := p.opts.Provider
	if cfg.Timeout > 0 {
		opts.Timeout = cfg.Timeout
	}
	opts.AllowCredentialsOverHTTP = opts.AllowCredentialsOverHTTP || cfg.AllowCredentialsOverHTTP
	prov, err := provider.Connection{Base: p.baseConfig, Options: opts}.Factory()(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PluginName, err)
	}
	return prov, nil
}

// Resume returns a completed measurement unchanged. Run always completes, so
// an incomplete one (from an interrupted controller) is measured again.
func (p *Plugin) Resume(run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	if m.Phase.Completed() {
		return m
	}
	started := m.StartedAt
	m = p.measure(context.Background(), run, metric)
	if started == nil {
		now := metav1.Now()
		started = &now
	}
	m.StartedAt = started
	return m
}

// Terminate returns a completed measurement unchanged; an incomplete one
// becomes Inconclusive (no value was read, so it is no pass and no failure).
func (p *Plugin) Terminate(run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	if m.Phase.Completed() {
		return m
	}
	m.Phase = v1alpha1.AnalysisPhaseInconclusive
	m.Message = "terminated before a value was read"
	if m.FinishedAt == nil {
		now := metav1.Now()
		m.FinishedAt = &now
	}
	return m
}

// GarbageCollect has nothing to do: the plugin keeps no state per
// measurement (Argo trims the measurement list itself).
func (p *Plugin) GarbageCollect(*v1alpha1.AnalysisRun, v1alpha1.Metric, int) types.RpcError {
	return types.RpcError{}
}

// Type is Argo's provider type for RPC plugins.
func (p *Plugin) Type() string { return ProviderType }

// GetMetadata is stored once on the metric's result: the query (as Argo
// rendered it) and the server, or nothing when the configuration is invalid
// (Run reports why).
func (p *Plugin) GetMetadata(metric v1alpha1.Metric) map[string]string {
	cfg, err := ParseConfig(metric.Provider.Plugin[PluginName])
	if err != nil {
		return nil
	}
	server := cfg.Address
	if server == "" {
		server = "kube-apiserver (aggregation layer)"
	}
	md := map[string]string{MetaQuery: cfg.Canonical, MetaServer: server}
	if cfg.Baseline != "" {
		md[MetaBaselineQuery] = cfg.Baseline
	}
	return md
}
