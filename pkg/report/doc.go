// Package report turns the result of a canary analysis (analysis.Report) and
// its live events (analysis.Event) into things people and CI systems read.
//
//   - WriteJSON: the report as indented JSON that decodes back into
//     analysis.Report, durations as Go duration strings ("interval": "2s",
//     "latency", "age"), with "duration" and "range" added for people;
//     WriteYAML: the same as YAML.
//   - WriteJUnit: JUnit XML, one <testsuite> per canary and one <testcase> per
//     metric check ("<metric> step <n>", classname "<namespace>.<canary>"),
//     failed checks as <failure> with their error kind and message, plus a
//     "verdict" test case so that a failed or aborted analysis is never green.
//     A relative check (a gate webhook with a baseline) shows both values,
//     the ratio and the delta in every form: WriteChecks' VALUE column, the
//     progress line (baseline=, ratio=, delta=), JUnit's failure detail and
//     the HTML chart, where the baseline is a second series.
//   - WriteHTML: one self-contained page (inline CSS and SVG, no script, no
//     external asset) with a verdict banner and summary per canary, an SVG
//     chart per metric (values per step, the threshold band, failed checks
//     and checks without a value marked, a tooltip on each point), the
//     rendered queries and a table of every check. All text is escaped by
//     html/template.
//   - WriteSummary: the end-of-run table (text/tabwriter); WriteChecks: one
//     row per check (analyze --once).
//   - WriteFiles: the JSON, JUnit and HTML files of a run in one call, every
//     failure named by its path (the analyze and demo commands, the gate).
//   - NewProgress: an analysis.Observer for live progress, redrawn in place on
//     a terminal (IsTerminal) or written as one log line per event otherwise;
//     NewProgressTo decides that from the writer.
//
// The package only formats: it never decides a verdict. Whatever the engine
// reports as failed, errored or aborted is shown as such, and a verdict other
// than Succeeded is never rendered as a success.
package report
