// Package analysis runs Flagger canary analyses against External Metrics API
// servers and reaches the verdict Flagger would reach, with every check kept
// for the report.
//
// The entry point is Runner: Load reads and resolves Flagger YAML (package
// flagger), Runner.Run builds one provider per MetricTemplate with the one
// connection rule (Connection, which applies provider.Connection: a
// template with an address is self-contained, one without uses
// Connection.Default and the base config) and runs the Engine;
// report.WriteFiles writes the result. The analyze and demo commands use
// it, and it returns plain errors. The Engine underneath can be built
// directly with New(Options{Factory: ...}): Run (the loop) or Once (each
// check once, a lint). Tests can plug in any Querier through
// Runner.Factory or Options.Factory and a fake clock through Clock.
//
// RunCheck is the one metric check: the Engine, the gate (all three
// endpoints), migrate --check and the Argo Rollouts plugin call it with a
// Querier, the rendered query, the Bounds (nil: no verdict, "measured") and
// the Staleness rule, and report its CheckResult. ParseMaxAge reads every
// max-age flag and field.
//
// Semantics, as Flagger's scheduler (pkg/controller/scheduler.go and
// scheduler_metrics.go) runs them:
//
//   - Checks. A metric's query (the MetricTemplate's, rendered) runs through
//     the provider. With a thresholdRange the check fails when value < min or
//     value > max (bounds inclusive); without one the deprecated threshold
//     fails values > threshold. Every query error (no values, not found,
//     stale, unauthorized, unavailable, ...) is a failed check carrying
//     provider.ErrorKind; a value outside the range has ErrorKind
//     "out-of-range". Unlike Flagger, NaN and infinite values always fail,
//     and so does stale data: a query without maxAge= gets the default
//     bound Options.MaxAge (3 analysis intervals, at least 5m; see
//     DefaultMaxAge), error kind "stale". Each check records the newest
//     item's timestamp and age (Check.Newest, Check.Age).
//   - Runs. Every analysis interval (spec.analysis.interval; default 60s,
//     raised to 10s when shorter; Options.Interval overrides) all checks of a
//     canary run, concurrently. Flagger stops at the first failing metric;
//     extmetrics runs them all for the report, which does not change the
//     verdict: a run with any failed check adds exactly one failed check to
//     the canary (Flagger's status.failedChecks) and does not advance. When
//     the failed checks reach spec.analysis.threshold (default 1) the canary
//     is Failed — at once; Flagger rolls back on the next tick, without
//     another analysis, so the runs made are the same.
//   - Steps. Flagger's first tick shifts traffic without an analysis; every
//     later tick analyses the current step and, when it passed, advances.
//     Progressive canaries add stepWeight (or walk stepWeights) until the
//     weight reaches maxWeight (default 100; with stepWeights the last one,
//     and stepWeight wins over stepWeights when both are set); the run at a
//     weight >= maxWeight is followed by promotion, so stepWeight 10 and
//     maxWeight 50 need 5 passing runs (at 10, 20, 30, 40, 50), stepWeight 20
//     and maxWeight 50 need 3 (20, 40, 60: Flagger does not cap at maxWeight)
//     and stepWeights [1, 10, 50, 80] need 4. With mirror one run at weight 0
//     (mirrored traffic) comes first. A/B testing (iterations with match)
//     needs iterations passing runs; blue/green (iterations without match)
//     needs iterations + 1, the last after all traffic is routed to the
//     canary. spec.provider "kubernetes" means blue/green, with 10
//     iterations when none are set. When every step passed: Succeeded.
//   - Gate webhooks. A canary's rollout and pre-rollout webhooks that call
//     an extmetrics gate (flagger.Resolved.GateChecks) run in-process
//     through Options.Gate (a GateChecker: package gate's Gate, the gate's
//     own code path) and are reported like metrics ("webhook/<name>", with
//     the baseline, ratio and delta of a relative check). As in Flagger,
//     pre-rollout webhooks run on the first tick, before any traffic
//     shift: a failure counts one failed check and the tick is retried an
//     interval later (the threshold fails the canary); rollout webhooks
//     run in every analysis run with the metrics. Any non-2xx answer is a
//     failed check.
//   - Cancellation. When ctx ends, canaries still running end Aborted with
//     the checks of the runs that completed (a run cut short is dropped).
//
// Run returns an error only for configuration problems found before any
// query runs; everything afterwards is a result. Several canaries proceed
// concurrently, each on its own schedule.
package analysis
