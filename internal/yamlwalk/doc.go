// Package yamlwalk is the one YAML node walker of extmetrics: the strict
// decoders of Flagger objects (pkg/flagger) and scenarios (pkg/scenario) are
// written with it. A Walker visits a go.yaml.in/yaml/v3 node tree and
// collects every problem, instead of stopping at the first, as apimachinery
// field.Errors (Type, Field path from a field.Path, Detail) together with the
// line they are on; callers wrap them in their own located error types.
//
// The rules are the same for every caller:
//
//   - Aliases (*name) and merge keys (<<) are refused, each reported where it
//     is used ("write the value out"): the objects are decoded from the
//     nodes, so honouring them would mean re-implementing YAML's merge
//     semantics, and aliases make a small file a very large tree. Anchors
//     (&name) that nothing refers to are harmless and ignored.
//   - Mapping keys are strings, each at most once ("duplicate key (first at
//     line N)"); with a list of known keys, other keys are "unknown field".
//   - Type errors say what was wanted and what was found: "want a number,
//     got the string \"abc\"".
//   - At most MaxErrors errors are kept per report (see Truncate).
package yamlwalk
