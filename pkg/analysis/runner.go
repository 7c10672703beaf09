package analysis

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// Connection builds the providers of MetricTemplates with the one
// connection rule, provider.Connection (see there: a template with an
// address is self-contained, one without uses Default and the base
// config), after applying the address overrides of analyze
// --address-override.
type Connection struct {
	// Base loads the base rest.Config (kubeconfig or in-cluster) for
	// templates without an address; nil means there is none.
	Base func() (*rest.Config, error)
	// Default is the connection of templates without an address
	// (provider.Connection.Default: --server, --token,
	// --insecure-skip-tls-verify).
	Default provider.Spec
	// Options apply to every provider (provider.Connection.Options).
	Options provider.Options
	// Overrides replace template addresses (see AddressOverride); the first
	// that matches wins.
	Overrides []AddressOverride
}

// Factory returns the ProviderFactory applying the rule. It is safe for
// concurrent use; the base config is loaded at most once.
func (c Connection) Factory() ProviderFactory {
	build := provider.Connection{Base: c.Base, Default: c.Default, Options: c.Options}.Factory()
	return func(spec provider.Spec) (Querier, error) {
		spec.Address = applyOverrides(spec.Address, c.Overrides)
		p, err := build(spec)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// Runner is the library's one entry point for running canary analyses, used
// by the analyze and demo commands: Load reads and resolves
// Flagger objects, Run builds the providers (Connection, or Factory) and
// runs the engine; package report writes the result (report.WriteFiles).
// Its errors are plain errors: callers decide what they mean (the CLI maps
// them to exit codes). A Runner is safe to use for several runs, also
// concurrently.
type Runner struct {
	// Connection builds the providers when Factory is nil.
	Connection Connection
	// Factory, when set, builds the providers instead of Connection (tests,
	// callers with their own rule).
	Factory ProviderFactory
	// Interval, when > 0, replaces every canary's analysis interval.
	Interval time.Duration
	// MaxAge is Options.MaxAge: the staleness bound for queries without
	// maxAge= (0: DefaultMaxAge of each canary's interval; NoMaxAge: off;
	// ParseMaxAge reads it).
	MaxAge time.Duration
	// FlaggerCompat is Options.FlaggerCompat.
	FlaggerCompat FlaggerCompat
	// Once runs every check once instead of the analysis loop (a lint).
	Once bool
	// Observer receives progress events (optional).
	Observer Observer
	// Clock times the analysis (default: the real clock).
	Clock clock.Clock
	// Gate runs webhooks that call an extmetrics gate in-process
	// (Options.Gate).
	Gate GateChecker
}

// Load reads Canary, MetricTemplate and Secret objects from paths (files,
// directories, "-" for stdin; see flagger.Load) and resolves the canaries.
// The notes (skipped objects, ignored fields) are returned once loading
// succeeded, also when resolving failed. No canary at all is an error.
func Load(paths []string, opts flagger.Options) (resolved []*flagger.Resolved, notes []string, err error) {
	_, resolved, notes, err = LoadSet(paths, opts)
	return resolved, notes, err
}

// LoadSet is Load that also returns every object read (the gate run
// in-process serves them: package gate's SetObjects).
func LoadSet(paths []string, opts flagger.Options) (set *flagger.Set, resolved []*flagger.Resolved, notes []string, err error) {
	set, err = flagger.Load(paths, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	resolved, err = set.Resolve()
	notes = set.Notes
	if err != nil {
		return set, nil, notes, err
	}
	if len(resolved) == 0 {
		return set, nil, notes, fmt.Errorf("no Canary (flagger.app/v1beta1) found in %v", paths)
	}
	return set, resolved, notes, nil
}

// Run analyses the resolved canaries and returns the report whatever the
// verdicts; when ctx ends, canaries still running end Aborted and the
// partial report is returned. An error means a configuration problem found
// before any query ran (plans, templates, providers), with no report.
func (r *Runner) Run(ctx context.Context, resolved []*flagger.Resolved) (*Report, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	factory := r.Factory
	if factory == nil {
		factory = r.Connection.Factory()
	}
	engine := New(Options{Factory: factory, Clock: r.Clock, Interval: r.Interval, Observer: r.Observer, MaxAge: r.MaxAge, FlaggerCompat: r.FlaggerCompat, Gate: r.Gate})
	var (
		rep *Report
		err error
	)
	if r.Once {
		rep, err = engine.Once(ctx, resolved)
	} else {
		rep, err = engine.Run(ctx, resolved)
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}
