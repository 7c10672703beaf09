// Command rollouts-plugin-metric-extmetrics is the Argo Rollouts metric
// provider plugin for the Kubernetes External Metrics API (package
// metricplugin). Argo Rollouts starts it; it is not run by hand.
//
// Flags (set through args in the argo-rollouts-config ConfigMap):
//
//	--kubeconfig PATH   cluster configuration when the controller runs outside a cluster
//	--log-level LEVEL   debug, info (default), warn or error; logs go to stderr
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG)")
	level := flag.String("log-level", "info", "log level: debug, info, warn, error")
	flag.Parse()
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "--log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})).With("plugin", metricplugin.PluginName)
	path := *kubeconfig
	p := metricplugin.New(metricplugin.Options{
		RESTConfig: func() (*rest.Config, error) { return metricplugin.LoadConfig(path) },
		Logger:     logger,
	})
	metricplugin.Serve(p)
}
