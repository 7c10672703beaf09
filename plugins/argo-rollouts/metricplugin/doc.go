// Package metricplugin is an Argo Rollouts metric provider plugin that reads
// a value from a Kubernetes External Metrics API server
// (external.metrics.k8s.io/v1beta1: the Datadog Cluster Agent, KEDA,
// prometheus-adapter, or the kube-apiserver's aggregation layer) through
// package provider, and judges it with Argo's own condition evaluation
// (utils/evaluate), so an AnalysisTemplate gets exactly Argo's semantics.
//
// Plugin implements Argo's rpc.MetricProviderPlugin. An AnalysisTemplate
// selects it with provider.plugin["extmetrics/external-metrics"], whose
// configuration (ParseConfig) is a query in the extmetrics grammar plus
// optional address, insecureSkipVerify, secretRef {name, key}, aggregate,
// maxAge and timeout. Every problem (a bad key, a bad query, a missing
// Secret, an unreachable, failing, empty, stale or ambiguous server answer, a
// condition that cannot be evaluated) becomes a measurement with phase Error
// and a message naming what was wrong; nothing is ever Successful without a
// fresh, unambiguous value inside the success condition.
//
// Credentials: with no address the plugin uses the rollouts controller's own
// configuration (in-cluster, or the kubeconfig the plugin was given) and so
// reaches the External Metrics API through the kube-apiserver aggregation
// layer. With an address, the controller's credentials are never sent: only
// the token, CA and client certificate of the secretRef Secret (read from the
// AnalysisRun's namespace) are used. Providers share transports across runs
// (package provider's pool), so each measurement reuses pooled connections.
//
// Serve runs the plugin with Argo's go-plugin handshake; cmd/
// rollouts-plugin-metric-extmetrics is the binary Argo Rollouts loads.
package metricplugin
