package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// DefaultConcurrency bounds the queries and API requests doctor makes at once.
const DefaultConcurrency = 16

// Options configure Run.
type Options struct {
	// Config is the cluster to read (required). Doctor only reads: gets,
	// lists, and SubjectAccessReviews (which change nothing).
	Config *rest.Config
	// Namespace limits the Canaries, MetricTemplates and AnalysisTemplates
	// checked to one namespace; "" means every namespace.
	Namespace string
	// Files, when set, are local YAML files or directories whose Canaries,
	// MetricTemplates, Secrets and (Cluster)AnalysisTemplates are checked
	// instead of the cluster's (e.g. before applying them); Secrets and
	// templates they reference but do not hold are read from the cluster.
	Files []string
	// Connection builds each template's provider: analysis's one rule, as
	// analyze uses it. A nil Base uses Config.
	Connection analysis.Connection
	// FlaggerVersion overrides the version read from Flagger's Deployment
	// image (e.g. "1.44.0").
	FlaggerVersion string
	// ProbeServices lets doctor call the gate's /readyz through the API
	// server's service proxy (a GET; off by default).
	ProbeServices bool
	// Concurrency bounds concurrent queries and requests (default DefaultConcurrency).
	Concurrency int
	// Progress receives progress lines once Run takes longer than
	// ProgressAfter (default 1s); nil: none.
	Progress      io.Writer
	ProgressAfter time.Duration
	// StaleAfter: a DatadogMetric whose Updated condition is older is stale
	// (default 2m, the Cluster Agent's default max_age).
	StaleAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrCannotRun wraps the errors that kept Run from checking anything (the
// cluster cannot be reached, bad options): exit code 2.
var ErrCannotRun = errors.New("doctor could not run")

// run is the state of one Run.
type run struct {
	opts *Options
	kube kubernetes.Interface
	dyn  dynamic.Interface
	conc int

	mu       sync.Mutex
	findings []Finding

	progress *progress
	inv      *inventory
	flagger  *flaggerInfo
	api      *apiInfo
	tmpl     *templateResults
}

func (r *run) add(f Finding) {
	r.mu.Lock()
	r.findings = append(r.findings, f)
	r.mu.Unlock()
}

// Run checks the cluster (and Options.Files) and returns the findings. An
// error (wrapping ErrCannotRun) means nothing could be checked; problems
// found while checking are findings.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Config == nil {
		return nil, fmt.Errorf("%w: no cluster configuration", ErrCannotRun)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ProgressAfter <= 0 {
		opts.ProgressAfter = time.Second
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 2 * time.Minute
	}
	if opts.Connection.Base == nil {
		cfg := opts.Config
		opts.Connection.Base = func() (*rest.Config, error) { return rest.CopyConfig(cfg), nil }
	}
	cfg := rest.CopyConfig(opts.Config)
	cfg.UserAgent = "extmetrics-doctor"
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 100, 200
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCannotRun, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCannotRun, err)
	}
	r := &run{opts: &opts, kube: kube, dyn: dyn, conc: opts.Concurrency}
	if _, err := kube.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("%w: cannot reach the cluster at %s: %v", ErrCannotRun, cfg.Host, err)
	}
	r.progress = startProgress(ctx, opts.Progress, opts.ProgressAfter)
	defer r.progress.stop()

	r.progress.phase("reading the cluster")
	inv, err := r.readInventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCannotRun, err)
	}
	r.inv = inv

	r.progress.phase("checking the APIService")
	r.checkAPI(ctx)
	r.progress.phase("checking Flagger")
	r.checkFlaggerInstall(ctx)
	r.progress.phase("resolving templates")
	r.prepareTemplates()
	r.checkMetricNames()
	r.checkFlaggerTemplates(ctx)
	r.checkTemplates(ctx)
	r.probeDummyMetric(ctx)
	r.progress.phase("checking DatadogMetrics")
	r.checkDatadog(ctx)
	r.progress.phase("checking Argo Rollouts")
	r.checkArgo(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: interrupted: %v", ErrCannotRun, context.Cause(ctx))
	}

	rep := &Report{APIVersion: SchemaVersion, Cluster: cfg.Host, Findings: r.findings}
	if opts.Namespace != "" {
		rep.Namespaces = []string{opts.Namespace}
	}
	rep.finish()
	return rep, nil
}

// cannotRead is the finding for a read that failed (forbidden, ...): doctor
// goes on without that part.
func (r *run) cannotRead(what string, obj Object, err error) {
	r.add(Finding{
		ID: "doctor.cannot-read", Severity: SeverityWarning, Object: obj,
		Message: fmt.Sprintf("cannot read %s: %v", what, oneLine(err.Error())),
		Fix:     "run doctor with an identity that may get and list it (kubectl auth can-i), or ignore the checks that need it",
	})
}

// shownNames is how many names listNames shows.
const shownNames = 5

// listNames formats up to shownNames names and how many more there are.
func listNames(names []string) string {
	n := shownNames
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
