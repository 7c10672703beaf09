// Package kubesource reads the Flagger objects the gate needs — MetricTemplates
// and Canaries (flagger.app/v1beta1, through dynamic informers, so no Flagger
// Go types) and Secrets (v1) — from the cluster with client-go informers: one
// watch per resource and namespace instead of a GET per check. Objects are
// converted once per change with package flagger's decoder (the same one the
// CLI uses on YAML files), so a template the CLI accepts is a template the
// gate accepts, and a broken one reports the same error. Secrets are kept
// without annotations or managed fields (kubectl's last-applied annotation
// holds the data in clear). Source implements gate.Objects; Ready reports
// whether every informer has synced.
package kubesource
