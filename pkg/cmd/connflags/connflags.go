// Package connflags holds the connection flags shared by every command that
// talks to an External Metrics API server (CONTRACT STUB written by the lead;
// the provider owner implements it and keeps these names and signatures).
package connflags

import (
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/provider"
)

// Flags are the connection settings: --server, --kubeconfig, --context,
// --token, --token-file, --ca-file, --client-cert, --client-key,
// --insecure-skip-tls-verify, --timeout, with EXTMETRICS_* environment defaults.
type Flags struct {
	Server     string
	Kubeconfig string
	Context    string
	Token      string
	TokenFile  string
	CAFile     string
	ClientCert string
	ClientKey  string
	Insecure   bool
	Timeout    time.Duration
}

// AddFlags registers the flags on fs (defaults from EXTMETRICS_* variables).
func (f *Flags) AddFlags(fs *pflag.FlagSet) { panic("not implemented") }

// BaseConfig loads the base rest.Config like kubectl (kubeconfig, KUBECONFIG,
// context, in-cluster). It returns (nil, nil) when --server is set and no
// kubeconfig can be found, since the provider then needs none.
func (f *Flags) BaseConfig() (*rest.Config, error) { panic("not implemented") }

// Spec is the provider spec the flags describe (--server, --token, --insecure-skip-tls-verify).
func (f *Flags) Spec() provider.Spec { panic("not implemented") }

// Options are the provider options the flags describe (--timeout, --token-file, --ca-file, ...).
func (f *Flags) Options() provider.Options { panic("not implemented") }
