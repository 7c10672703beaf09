// Package loadtest is the `extmetrics loadtest` command: it wires flags to
// pkg/loadtest, either against a running server's URL(s) or, with --spawn,
// against an `extmetrics devserver` it starts, measures and stops itself.
package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	lt "github.com/extmetrics/extmetrics/pkg/loadtest"
)

type options struct {
	run       lt.Config
	tokenFile string
	output    string

	spawn      bool
	series     int
	names      int
	namespace  string
	spawnArgs  []string
	spawnEnv   []string
	executable string // the extmetrics binary to spawn; "" is this one
}

// NewCommand returns the loadtest command.
func NewCommand() *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   "loadtest [URL...] | --spawn",
		Short: "Load an External Metrics API server on loopback and report req/s, latency and memory",
		Long: `loadtest sends GET requests from concurrent clients over HTTP/2 keep-alive
connections to the given URLs (taken in turn; they must share one host, which
must be loopback: 127.0.0.0/8 or ::1) for a bounded time, then reports
requests per second, latency percentiles, answers by status, bytes received,
and the server's memory (from /proc/<--pid>, else its /metrics).

The default client is net/http, as real Go clients are; on a small machine it
uses about as much CPU as the server. --client framer speaks the same HTTP/2
directly with golang.org/x/net/http2's framer at a fraction of the cost, which
leaves the CPU to the server and so measures the server's own capacity.

With --spawn it starts "extmetrics devserver" itself on a generated scenario
of --series series, measures how long the server takes to be ready, loads it,
reads its memory from /proc and stops it: a one-command benchmark.`,
		Example: `  extmetrics loadtest --spawn --series 1000 --duration 10s --concurrency 8
  extmetrics loadtest --ca-file ca.pem --token-file token --pid 4242 \
    'https://127.0.0.1:8443/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests?labelSelector=app%3Dpodinfo'`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.execute(cmd, args) },
	}
	f := c.Flags()
	f.IntVarP(&o.run.Concurrency, "concurrency", "c", lt.DefaultConcurrency, fmt.Sprintf("concurrent clients (at most %d)", lt.MaxConcurrency))
	f.IntVar(&o.run.Connections, "connections", 0, "connections the clients share (default: one per client)")
	f.DurationVarP(&o.run.Duration, "duration", "d", lt.DefaultDuration, fmt.Sprintf("how long to send requests (at most %v)", lt.MaxDuration))
	f.Int64VarP(&o.run.Requests, "requests", "n", 0, "also stop after this many requests (0: no limit)")
	f.DurationVar(&o.run.Timeout, "timeout", lt.DefaultTimeout, "timeout of each request")
	f.StringVar(&o.run.Token, "token", "", "bearer token")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token")
	f.StringVar(&o.run.CAFile, "ca-file", "", "PEM file of the CA that signed the server's certificate")
	f.BoolVar(&o.run.Insecure, "insecure-skip-tls-verify", false, "do not verify the server's certificate")
	f.BoolVar(&o.run.RequireHTTP2, "require-http2", true, "fail unless the server answers over HTTP/2")
	f.StringVar(&o.run.Client, "client", lt.ClientNetHTTP, `HTTP client: "net/http" (what Go clients use) or "framer" (raw HTTP/2 frames, far less client CPU; one connection per client)`)
	f.IntVar(&o.run.PID, "pid", 0, "the server's process id, to read its memory and CPU from /proc")
	f.StringVar(&o.run.MetricsURL, "metrics-url", "", "where the server's Prometheus metrics are, when --pid is not given (default <server>/metrics)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.spawn, "spawn", false, "start \"extmetrics devserver\" as a child process and load it")
	f.IntVar(&o.series, "series", lt.DefaultSeries, "with --spawn: series in the generated scenario")
	f.IntVar(&o.names, "metric-names", lt.DefaultMetricNames, "with --spawn: metric names the series are spread over")
	f.StringVar(&o.namespace, "namespace", "default", "with --spawn: namespace of the generated series")
	f.StringArrayVar(&o.spawnArgs, "spawn-arg", nil, "with --spawn: extra devserver argument (repeatable), e.g. --spawn-arg=--profile=cma")
	f.StringVar(&o.executable, "spawn-binary", "", "with --spawn: the `BINARY` to run as \"BINARY devserver ...\" (default: this extmetrics; extmetrics-devserver maps less memory)")
	f.StringArrayVar(&o.spawnEnv, "spawn-env", nil, "with --spawn: extra NAME=VALUE environment variable for the devserver (repeatable), e.g. --spawn-env=GOGC=50")
	return c
}

func (o *options) execute(cmd *cobra.Command, args []string) error {
	switch o.output {
	case "text", "json":
	default:
		return cmdutil.Usagef("--output: unknown format %q (want text or json)", o.output)
	}
	if o.tokenFile != "" {
		if o.run.Token != "" {
			return cmdutil.Usagef("--token and --token-file exclude each other")
		}
		data, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return cmdutil.Usagef("--token-file: %v", err)
		}
		o.run.Token = strings.TrimSpace(string(data))
		if o.run.Token == "" {
			return cmdutil.Usagef("--token-file %s is empty", o.tokenFile)
		}
	}
	fs := cmd.Flags()
	if o.spawn {
		if len(args) > 0 {
			return cmdutil.Usagef("--spawn loads the devserver it starts: give no URL")
		}
		for _, name := range []string{"token", "token-file", "ca-file", "insecure-skip-tls-verify", "pid", "metrics-url"} {
			if fs.Changed(name) {
				return cmdutil.Usagef("--%s cannot be used with --spawn (it sets up the server itself)", name)
			}
		}
		for _, kv := range o.spawnEnv {
			if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
				return cmdutil.Usagef("--spawn-env %q: want NAME=VALUE", kv)
			}
		}
		if o.series < 1 || o.names < 1 {
			return cmdutil.Usagef("--series and --metric-names must be positive")
		}
		if err := lt.ValidateSpawn(o.spawnConfig()); err != nil {
			return classify(err)
		}
	} else {
		if len(args) == 0 {
			return cmdutil.Usagef("give the URL(s) to load, or --spawn")
		}
		for _, name := range []string{"series", "metric-names", "namespace", "spawn-arg", "spawn-env", "spawn-binary"} {
			if fs.Changed(name) {
				return cmdutil.Usagef("--%s needs --spawn", name)
			}
		}
		o.run.URLs = args
	}
	// Check the run's settings before starting a server.
	if err := validate(o.run, o.spawn); err != nil {
		return err
	}

	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var srv *lt.Devserver
	if o.spawn {
		var err error
		srv, err = lt.Spawn(ctx, o.spawnConfig())
		if err != nil {
			return classify(err)
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "stopping the spawned devserver:", err)
			}
		}()
		o.run.URLs, o.run.Token, o.run.CAFile, o.run.PID = srv.Paths, srv.Token, srv.CAFile, srv.PID
	}
	res, err := lt.Run(ctx, o.run)
	if err != nil {
		return classify(err)
	}
	if srv != nil {
		res.Ready = &srv.Ready
		if exited, werr := srv.Exited(); exited {
			err = fmt.Errorf("the devserver exited during the load (%v): %s", werr, srv.Stderr())
		} else if serr := srv.Stop(); serr != nil {
			err = serr
		}
	}
	if werr := write(cmd.OutOrStdout(), o.output, res); werr != nil {
		return cmdutil.Failure(werr)
	}
	switch {
	case err != nil:
		return cmdutil.Failure(err)
	case res.Interrupted:
		return cmdutil.Failure(errors.New("interrupted"))
	case res.OK == 0:
		return cmdutil.Failure(errors.New("no request succeeded"))
	}
	return nil
}

func (o *options) spawnConfig() lt.SpawnConfig {
	return lt.SpawnConfig{Executable: o.executable, Args: o.spawnArgs, Env: o.spawnEnv, Series: o.series, MetricNames: o.names, Namespace: o.namespace}
}

// validate checks the run settings without sending anything (spawn mode
// fills in the URLs later, so a placeholder stands in for them).
func validate(cfg lt.Config, spawn bool) error {
	if spawn {
		cfg.URLs = []string{"https://127.0.0.1/"}
	}
	return classify(lt.Validate(cfg))
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *lt.ConfigError
	var nl *lt.NotLoopbackError
	if errors.As(err, &ce) || errors.As(err, &nl) {
		return cmdutil.Usage(err)
	}
	return cmdutil.Failure(err)
}

func write(w io.Writer, format string, res *lt.Result) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return lt.WriteText(w, res)
}
