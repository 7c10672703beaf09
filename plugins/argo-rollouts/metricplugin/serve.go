package metricplugin

import (
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/argoproj/argo-rollouts/metricproviders/plugin/rpc"
)

// Handshake is Argo Rollouts' handshake for metric provider plugins (the
// values of metricproviders/plugin/client); a plugin started without it
// refuses to run.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ARGO_ROLLOUTS_RPC_PLUGIN",
	MagicCookieValue: "metricprovider",
}

// DispenseKey is the name Argo dispenses the plugin under.
const DispenseKey = "RpcMetricProviderPlugin"

// Serve serves impl over go-plugin's net/rpc protocol until the controller
// goes away. It does not return normally.
func Serve(impl rpc.MetricProviderPlugin) {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         map[string]goplugin.Plugin{DispenseKey: &rpc.RpcMetricProviderPlugin{Impl: impl}},
	})
}
