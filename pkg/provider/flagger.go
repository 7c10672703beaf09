package provider

import (
	"context"

	"k8s.io/client-go/rest"
)

// FlaggerInterface is Flagger's metrics provider interface
// (github.com/fluxcd/flagger/pkg/metrics/providers.Interface); *Provider
// implements it.
type FlaggerInterface interface {
	RunQuery(query string) (float64, error)
	IsOnline() (bool, error)
}

var _ FlaggerInterface = (*Provider)(nil)

// NewForFlagger builds a provider from the pieces Flagger's provider factory
// has: the MetricTemplate's provider address and insecureSkipVerify, the
// secretRef Secret's data (credentials, may be nil) and the controller's
// rest.Config (kubeConfig, may be nil when address is set). It is a drop-in
// for Flagger's externalmetrics provider:
//
//	// in flagger/pkg/metrics/providers/factory.go
//	case "externalmetrics":
//		return provider.NewForFlagger(provider.Address, provider.InsecureSkipVerify, credentials, kubeConfig)
//
// Flagger builds a provider for every check; ours comes from a keyed pool, so
// that costs no new transport, TLS handshake or connection.
func NewForFlagger(address string, insecureSkipVerify bool, credentials map[string][]byte, kubeConfig *rest.Config) (*Provider, error) {
	return New(kubeConfig, Spec{Address: address, InsecureSkipVerify: insecureSkipVerify, SecretData: credentials}, Options{})
}

// RunQuery is Flagger's interface: the value, or an error (never a value on
// error: the value is 0 whenever err != nil). It runs Query with
// context.Background and the provider's timeout (default 5s, retries
// included). Several matching items without aggregate= are ErrAmbiguous
// (Flagger takes the first) unless the provider was built with
// Options.MultiItem MultiItemFirst.
func (p *Provider) RunQuery(query string) (float64, error) {
	res, err := p.Query(context.Background(), query)
	if err != nil {
		return 0, err
	}
	return res.Value, nil
}

// IsOnline is Flagger's interface: true when the server's discovery lists
// external.metrics.k8s.io/v1beta1; otherwise false and an error saying why
// (server down, 401/403, group not served). See Health for details.
func (p *Provider) IsOnline() (bool, error) {
	hr, err := p.Health(context.Background())
	if err != nil {
		return false, err
	}
	return hr.Online, nil
}
