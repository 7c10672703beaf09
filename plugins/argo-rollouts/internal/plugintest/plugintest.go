// Package plugintest builds the plugin binary and starts it the way the Argo
// Rollouts controller does (metricproviders/plugin/client): go-plugin with
// Argo's handshake, net/rpc, dispensing RpcMetricProviderPlugin, then
// InitPlugin and a ping. Tests then call the plugin through Argo's own RPC
// client (rpc.MetricsPluginRPC).
package plugintest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/metricproviders/plugin/rpc"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// Package is the plugin command's import path.
const Package = "github.com/extmetrics/extmetrics/plugins/argo-rollouts/cmd/rollouts-plugin-metric-extmetrics"

// BinaryName is the plugin binary's file name.
const BinaryName = "rollouts-plugin-metric-extmetrics"

// argoHandshake and argoPlugins are the values of Argo Rollouts v1.10.1's
// metricproviders/plugin/client (unexported there), written out here so the
// test proves the plugin accepts what the controller sends.
var (
	argoHandshake = goplugin.HandshakeConfig{
		ProtocolVersion:  1,
		MagicCookieKey:   "ARGO_ROLLOUTS_RPC_PLUGIN",
		MagicCookieValue: "metricprovider",
	}
	argoPlugins = map[string]goplugin.Plugin{
		"RpcMetricProviderPlugin": &rpc.RpcMetricProviderPlugin{},
	}
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
	dur  time.Duration
}

// Binary builds the plugin once per test process (the Go build cache makes
// later builds a link step) and returns its path. Call Cleanup from TestMain.
func Binary(tb testing.TB) string {
	tb.Helper()
	path, err := BuildBinary()
	if err != nil {
		tb.Fatalf("plugintest: %v", err)
	}
	return path
}

// BuildBinary is Binary for TestMain.
func BuildBinary() (string, error) {
	build.once.Do(func() {
		start := time.Now()
		build.dir, build.err = os.MkdirTemp("", "extmetrics-argo-plugin-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, BinaryName)
		cmd := exec.Command("go", "build", "-o", build.path, Package)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			build.err = fmt.Errorf("go build %s: %v\n%s", Package, err, out.String())
		}
		build.dur = time.Since(start)
	})
	return build.path, build.err
}

// BuildTime is how long Binary's build took (0 before it ran).
func BuildTime() time.Duration { return build.dur }

// Cleanup removes the built binary.
func Cleanup() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// Plugin is a started plugin process.
type Plugin struct {
	rpc.MetricProviderPlugin
	Client *goplugin.Client
}

// Start runs the plugin binary with args and extra environment (appended to
// the test's) like Argo's controller does, dispenses the metric provider
// and calls InitPlugin. The process is killed when the test ends.
func Start(tb testing.TB, binary string, env []string, args ...string) *Plugin {
	tb.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: argoHandshake,
		Plugins:         argoPlugins,
		Cmd:             cmd,
		Managed:         true,
		Logger:          hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: os.Stderr, Level: hclog.Error}),
	})
	tb.Cleanup(client.Kill)
	rpcClient, err := client.Client()
	if err != nil {
		tb.Fatalf("plugintest: start plugin: %v", err)
	}
	raw, err := rpcClient.Dispense("RpcMetricProviderPlugin")
	if err != nil {
		tb.Fatalf("plugintest: dispense: %v", err)
	}
	impl, ok := raw.(rpc.MetricProviderPlugin)
	if !ok {
		tb.Fatalf("plugintest: dispensed %T, not an rpc.MetricProviderPlugin", raw)
	}
	if e := impl.InitPlugin(); e.HasError() {
		tb.Fatalf("plugintest: InitPlugin: %v", e)
	}
	if err := rpcClient.Ping(); err != nil {
		tb.Fatalf("plugintest: ping: %v", err)
	}
	return &Plugin{MetricProviderPlugin: impl, Client: client}
}
