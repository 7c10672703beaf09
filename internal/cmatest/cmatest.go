package cmatest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	unionauthn "k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	unionauthz "k8s.io/apiserver/pkg/authorization/union"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"
	openapicommon "k8s.io/kube-openapi/pkg/common"

	cmaserver "sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
	cmaoptions "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd/options"
	generatedcore "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/core"
	generatedexternal "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/externalmetrics"
)

// Token is the bearer token the server accepts (user "cmatest", group
// system:authenticated). A request without a token is anonymous, as on a
// real CMA server; a request with any other token is refused with 401.
const Token = "cma-test-token"

// Name is the server's name (the OpenAPI title, the library's log name).
const Name = "cmatest-adapter"

// Options tune the server; the zero value is the library test-adapter's
// behaviour.
type Options struct {
	// UnknownMetricNotFound makes the provider answer a metric with no
	// series in the namespace with the library's NewMetricNotFoundError (404
	// NotFound), as prometheus-adapter does. Without it the answer is an
	// empty list, as from the library's test-adapter and KEDA.
	UnknownMetricNotFound bool

	// RequestHeaderCAFile turns on the front-proxy authentication a CMA
	// server has behind kube-apiserver's aggregation layer (the
	// --requestheader-* options): X-Remote-User and X-Remote-Group are
	// trusted from clients presenting a certificate of this CA whose common
	// name is one of RequestHeaderAllowedNames (any name when empty).
	RequestHeaderCAFile       string
	RequestHeaderAllowedNames []string
	// TLSCertFile and TLSKeyFile replace the generated serving certificate
	// (behind the aggregator it must name <service>.<namespace>.svc);
	// ServingCAPEM is then the CA that signed it (CAPEM, RESTConfig).
	TLSCertFile, TLSKeyFile string
	ServingCAPEM            []byte
}

// Server is a running CMA-based External Metrics API server.
type Server struct {
	url     string
	caPEM   []byte
	caPool  *x509.CertPool
	prov    *StaticProvider
	startup time.Duration

	cancel context.CancelFunc
	done   chan error
}

// Start starts a server for t with the default Options; it is stopped when
// the test ends. Start errors fail the test.
func Start(t testing.TB) *Server { return StartWithOptions(t, Options{}) }

// StartWithOptions is Start with options.
func StartWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts, t.TempDir())
	if err != nil {
		t.Fatalf("cmatest: start custom-metrics-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("cmatest: stop custom-metrics-apiserver: %v", err)
		}
	})
	return s
}

// readyTimeout bounds the wait for /readyz after start: generous, since
// the machine is shared and the generic apiserver starts several
// controllers.
const readyTimeout = 60 * time.Second

// New starts a server on 127.0.0.1 with a random port, keeping its
// certificate files in dir, and returns once /readyz answers 200. Close
// stops it.
func New(opts Options, dir string) (*Server, error) {
	began := time.Now()
	certs, err := newCerts(time.Now())
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if opts.TLSCertFile != "" {
		certFile, keyFile = opts.TLSCertFile, opts.TLSKeyFile
		certs.caPEM = opts.ServingCAPEM
	} else {
		if err := os.WriteFile(certFile, certs.certPEM, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyFile, certs.keyPEM, 0o600); err != nil {
			return nil, err
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	prov := NewStaticProvider(opts.UnknownMetricNotFound)
	srv, err := build(ln, certFile, keyFile, prov, opts)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		url:    "https://" + ln.Addr().String(),
		caPEM:  certs.caPEM,
		caPool: x509.NewCertPool(),
		prov:   prov,
		cancel: cancel,
		done:   make(chan error, 1),
	}
	s.caPool.AppendCertsFromPEM(certs.caPEM)
	go func() { s.done <- srv.GenericAPIServer.PrepareRun().RunWithContext(ctx) }()

	if err := s.waitReady(); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.startup = time.Since(began)
	return s, nil
}

// build configures the server the way the library's cmd.AdapterBase does
// (its options, the generic apiserver's recommended config, OpenAPI from
// the library's generated definitions), except that the delegated
// authentication and authorization, which need a kube-apiserver, are
// replaced by local equivalents (see authn and authz).
func build(ln net.Listener, certFile, keyFile string, prov *StaticProvider, opts Options) (*cmaserver.CustomMetricsAdapterServer, error) {
	o := cmaoptions.NewCustomMetricsAdapterServerOptions()
	o.SecureServing.Listener = ln
	o.SecureServing.BindAddress = net.IPv4(127, 0, 0, 1)
	o.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	o.SecureServing.ServerCert.CertKey = genericoptions.CertKey{CertFile: certFile, KeyFile: keyFile}
	// No kube-apiserver: no kubeconfig, no in-cluster config, no lookup
	// of the extension-apiserver-authentication ConfigMap.
	o.Authentication.RemoteKubeConfigFileOptional = true
	o.Authentication.SkipInClusterLookup = true
	o.Authorization.RemoteKubeConfigFileOptional = true
	if opts.RequestHeaderCAFile != "" {
		// The library's defaults name the headers (X-Remote-User, ...).
		o.Authentication.RequestHeader.ClientCAFile = opts.RequestHeaderCAFile
		o.Authentication.RequestHeader.AllowedNames = opts.RequestHeaderAllowedNames
	}
	o.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(openAPIDefinitions, openapinamer.NewDefinitionNamer(cmaserver.Scheme))
	o.OpenAPIConfig.Info.Title = Name
	o.OpenAPIConfig.Info.Version = "1.0.0"
	o.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(openAPIDefinitions, openapinamer.NewDefinitionNamer(cmaserver.Scheme))
	o.OpenAPIV3Config.Info.Title = Name
	o.OpenAPIV3Config.Info.Version = "1.0.0"
	if errs := o.Validate(); len(errs) > 0 {
		return nil, utilerrors.NewAggregate(errs)
	}

	cfg := genericapiserver.NewRecommendedConfig(cmaserver.Codecs)
	// ApplyTo builds a clientset from ClientConfig for the feature options;
	// with priority and fairness off (the library's default) it is never
	// used, so it points nowhere.
	cfg.ClientConfig = &rest.Config{Host: "https://127.0.0.1:1"}
	if err := o.ApplyTo(cfg); err != nil {
		return nil, fmt.Errorf("apply options: %w", err)
	}
	cfg.Authentication.Authenticator = authn(cfg.Authentication.RequestHeaderConfig)
	az, err := authz(cfg.Authorization.Authorizer)
	if err != nil {
		return nil, err
	}
	cfg.Authorization.Authorizer = az

	c := &cmaserver.Config{GenericConfig: &cfg.Config}
	return c.Complete(nil).New(Name, nil, prov)
}

func openAPIDefinitions(ref openapicommon.ReferenceCallback) map[string]openapicommon.OpenAPIDefinition {
	defs := generatedcore.GetOpenAPIDefinitions(ref)
	maps.Copy(defs, generatedexternal.GetOpenAPIDefinitions(ref))
	return defs
}

// authn is shaped like the delegating authenticator a CMA server builds
// (authenticatorfactory.DelegatingAuthenticatorConfig): the front proxy's
// request headers when configured (rh), bearer tokens, with
// system:authenticated added, and anonymous for requests without
// credentials; a token that is refused fails the request (401). The
// TokenReview webhook is replaced by the one static Token.
func authn(rh *authenticatorfactory.RequestHeaderConfig) authenticator.Request {
	tokens := authenticatorfactory.NewFromTokens(map[string]*user.DefaultInfo{
		Token: {Name: "cmatest", UID: "cmatest"},
	}, nil)
	var chain []authenticator.Request
	if rh != nil {
		chain = append(chain, headerrequest.NewDynamicVerifyOptionsSecure(rh.CAContentProvider.VerifyOptions,
			rh.AllowedClientNames, rh.UsernameHeaders, rh.UIDHeaders, rh.GroupHeaders, rh.ExtraHeaderPrefixes))
	}
	chain = append(chain, group.NewAuthenticatedGroupAdder(tokens))
	return unionauthn.NewFailOnError(
		unionauthn.New(chain...),
		anonymous.NewAuthenticator([]apiserver.AnonymousAuthCondition(nil)),
	)
}

// authz keeps the library-configured authorizers (always-allowed paths
// /healthz, /readyz, /livez and group system:masters) and, in place of
// the SubjectAccessReview webhook, allows every authenticated user.
// Anonymous requests elsewhere get the apiserver's 403.
func authz(base authorizer.Authorizer) (authorizer.Authorizer, error) {
	authenticated := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if u := a.GetUser(); u != nil {
			for _, g := range u.GetGroups() {
				if g == user.AllAuthenticated {
					return authorizer.DecisionAllow, "", nil
				}
			}
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	return unionauthz.New(
		unionauthz.NamedAuthorizer{AuthorizerName: "library", Authorizer: base},
		unionauthz.NamedAuthorizer{AuthorizerName: "cmatest/authenticated", Authorizer: authenticated},
	)
}

func (s *Server) waitReady() error {
	client := s.HTTPClient()
	client.Timeout = 5 * time.Second
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("server stopped before ready: %v", err)
		default:
		}
		resp, err := client.Get(s.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %s", resp.Status)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", readyTimeout, last)
}

// stopTimeout bounds the wait for the server to stop.
const stopTimeout = 60 * time.Second

// Close stops the server and waits for it to finish.
func (s *Server) Close() error {
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // Close is idempotent
		return err
	case <-time.After(stopTimeout):
		return errors.New("server did not stop within " + stopTimeout.String())
	}
}

// URL is the server's base URL, https://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// CAPEM is the PEM of the CA that signed the serving certificate.
func (s *Server) CAPEM() []byte { return s.caPEM }

// CAPool is a pool holding the CA.
func (s *Server) CAPool() *x509.CertPool { return s.caPool }

// StartupTime is how long New took, certificates included, until /readyz
// answered 200.
func (s *Server) StartupTime() time.Duration { return s.startup }

// Provider is the server's ExternalMetricsProvider.
func (s *Server) Provider() *StaticProvider { return s.prov }

// SetSeries sets (adds or replaces) the series of metric in namespace with
// exactly these labels.
func (s *Server) SetSeries(namespace, metric string, labels map[string]string, value resource.Quantity) {
	s.prov.Set(namespace, metric, labels, value)
}

// DeleteSeries removes a series; it reports whether there was one.
func (s *Server) DeleteSeries(namespace, metric string, labels map[string]string) bool {
	return s.prov.Delete(namespace, metric, labels)
}

// RESTConfig is a client-go config for the server with token (none when
// "") that verifies the server against its CA.
func (s *Server) RESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            s.url,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.caPEM},
		Timeout:         30 * time.Second,
		QPS:             -1,
	}
}

// HTTPClient is an HTTP client that trusts the server's CA. It sends no
// token.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: s.caPool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		},
		Timeout: 30 * time.Second,
	}
}
