package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Users in every cluster's static token file.
const (
	// AdminUser is in group system:masters: allowed everything.
	AdminUser = "admin"
	// ViewerUser is authenticated but has no RBAC rules: every request it
	// makes to a resource is forbidden until a test grants it something.
	ViewerUser = "viewer"
)

// FrontProxyClientName is the common name of the client certificate
// kube-apiserver's aggregator presents to backends; backends verifying
// request headers allow exactly this name.
const FrontProxyClientName = "front-proxy-client"

// User is an extra user of the static token file.
type User struct {
	Name   string
	Groups []string
}

// Options configure a cluster. The zero value is a usable cluster with the
// default versions and the users AdminUser and ViewerUser.
type Options struct {
	BinaryOptions

	// Dir holds the PKI, token file, kubeconfigs, logs and etcd data; default
	// a fresh temporary directory removed by Stop (kept when the
	// environment has EXTMETRICS_E2E_KEEP=1).
	Dir string
	// Users adds users to the static token file (each gets a random token).
	Users []User
	// APIServerFlags are appended to kube-apiserver's flags ("--v=4").
	APIServerFlags []string
	// StartTimeout bounds the wait for etcd and kube-apiserver to be ready
	// (not the binary build); default 90s.
	StartTimeout time.Duration
}

// Cluster is a running etcd + kube-apiserver on 127.0.0.1.
type Cluster struct {
	opts     Options
	bins     Binaries
	dir      string
	ownDir   bool
	url      string
	ca       *CA
	frontCA  *CA
	tokens   map[string]string // user -> token
	started  time.Duration
	etcd     *process
	apiSrv   *process
	shmDir   string // etcd's data on tmpfs, removed by Stop
	stopOnce sync.Once
	stopErr  error

	kubeconfigMu sync.Mutex
	kubeconfigs  map[string]string // user -> path
}

// Start builds or finds the binaries (EnsureBinaries), generates the PKI and
// starts etcd and kube-apiserver on free loopback ports, returning when
// kube-apiserver's /readyz says ok. Stop it with Stop. On error everything
// started is stopped again and the error carries the tail of the logs.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 90 * time.Second
	}
	bins, err := EnsureBinaries(ctx, opts.BinaryOptions)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	c := &Cluster{opts: opts, bins: bins, dir: opts.Dir, tokens: map[string]string{}, kubeconfigs: map[string]string{}}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "extmetrics-e2e-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	} else if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := c.start(startCtx); err != nil {
		logs := c.logTails(30)
		_ = c.Stop()
		return nil, fmt.Errorf("%w\n%s", err, logs)
	}
	c.started = time.Since(begin)
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	if err := c.writePKI(); err != nil {
		return fmt.Errorf("PKI: %w", err)
	}
	etcdPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	etcdData := filepath.Join(c.dir, "etcd-data")
	// tmpfs makes etcd's fsyncs free; the data is thrown away anyway.
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "extmetrics-e2e-etcd-"); err == nil {
			etcdData, c.shmDir = d, d
		}
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	var etcdEnv []string
	if a := unsupportedArch(); a != "" {
		etcdEnv = append(etcdEnv, "ETCD_UNSUPPORTED_ARCH="+a)
	}
	c.etcd, err = startProcess(c.bins.Etcd, filepath.Join(c.dir, "etcd.log"), etcdEnv,
		"--name=e2e",
		"--data-dir="+etcdData,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=e2e="+peerURL,
		"--logger=zap", "--log-outputs=stderr",
	)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if err := waitHTTP(ctx, http.DefaultClient, etcdURL+"/health", c.etcd); err != nil {
		return fmt.Errorf("etcd not healthy: %w", err)
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	c.url = "https://127.0.0.1:" + strconv.Itoa(port)
	p := func(name string) string { return filepath.Join(c.dir, name) }
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + p("apiserver-certs"),
		"--tls-cert-file=" + p("apiserver.crt"),
		"--tls-private-key-file=" + p("apiserver.key"),
		"--client-ca-file=" + p("ca.crt"),
		"--token-auth-file=" + p("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--service-account-key-file=" + p("sa.pub"),
		"--service-account-signing-key-file=" + p("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		// On loopback there is no node network to publish the kubernetes
		// Service's endpoints to.
		"--endpoint-reconciler-type=none",
		"--requestheader-client-ca-file=" + p("front-proxy-ca.crt"),
		"--requestheader-allowed-names=" + FrontProxyClientName,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p("front-proxy-client.crt"),
		"--proxy-client-key-file=" + p("front-proxy-client.key"),
		"--profiling=false",
		// The object-size estimator (beta, on by default since 1.34) lists
		// every resource's keys from its watch cache once a minute, waiting
		// for the cache to reach etcd's current revision; with etcd 3.4 the
		// caches of resources nobody writes do not advance ("Error getting
		// keys ... Too large resource version" in the log), and on SIGTERM
		// kube-apiserver waits for those lists one by one, longer than
		// Stop's grace, whenever the cluster lived over a minute. Nothing
		// here needs the estimate (API Priority and Fairness list costs).
		"--feature-gates=SizeBasedListCostEstimate=false",
	}
	args = append(args, c.opts.APIServerFlags...)
	c.apiSrv, err = startProcess(c.bins.KubeAPIServer, p("kube-apiserver.log"), nil, args...)
	if err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	hc := c.httpClient(c.tokens[AdminUser])
	if err := waitHTTP(ctx, hc, c.url+"/readyz", c.apiSrv); err != nil {
		return fmt.Errorf("kube-apiserver not ready: %w", err)
	}
	return nil
}

// writePKI writes the CAs, certificates, service-account keys and the static
// token file into the cluster's directory.
func (c *Cluster) writePKI() error {
	var err error
	if c.ca, err = newCA("extmetrics-e2e-ca"); err != nil {
		return err
	}
	if c.frontCA, err = newCA("extmetrics-e2e-front-proxy-ca"); err != nil {
		return err
	}
	files := map[string][]byte{"ca.crt": c.ca.CertPEM, "front-proxy-ca.crt": c.frontCA.CertPEM}
	serving, err := c.ca.Issue(CertRequest{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 96, 0, 1)},
	})
	if err != nil {
		return err
	}
	files["apiserver.crt"], files["apiserver.key"] = serving.CertPEM, serving.KeyPEM
	proxy, err := c.frontCA.Issue(CertRequest{CommonName: FrontProxyClientName, Client: true})
	if err != nil {
		return err
	}
	files["front-proxy-client.crt"], files["front-proxy-client.key"] = proxy.CertPEM, proxy.KeyPEM
	if files["sa.pub"], files["sa.key"], err = serviceAccountKeys(); err != nil {
		return err
	}
	users := append([]User{{Name: AdminUser, Groups: []string{"system:masters"}}, {Name: ViewerUser}}, c.opts.Users...)
	var csv strings.Builder
	for i, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, ",\"\n") {
			return fmt.Errorf("user %d: invalid name %q", i, u.Name)
		}
		if _, dup := c.tokens[u.Name]; dup {
			return fmt.Errorf("user %q given twice", u.Name)
		}
		tok := randomToken()
		c.tokens[u.Name] = tok
		// token,user,uid,"group1,group2"
		fmt.Fprintf(&csv, "%s,%s,%s,\"%s\"\n", tok, u.Name, "uid-"+u.Name, strings.Join(u.Groups, ","))
	}
	files["tokens.csv"] = []byte(csv.String())
	for name, data := range files {
		perm := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") || name == "tokens.csv" {
			perm = 0o600
		}
		if err := os.WriteFile(filepath.Join(c.dir, name), data, perm); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops kube-apiserver and etcd (SIGTERM, then SIGKILL after 10 s) and
// removes the cluster's directory when Start created it. It is safe to call
// more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		for _, p := range []*process{c.apiSrv, c.etcd} {
			if p != nil {
				if err := p.stop(10 * time.Second); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if c.shmDir != "" {
			if err := os.RemoveAll(c.shmDir); err != nil {
				errs = append(errs, err)
			}
		}
		if c.ownDir && os.Getenv("EXTMETRICS_E2E_KEEP") != "1" {
			if err := os.RemoveAll(c.dir); err != nil {
				errs = append(errs, err)
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// URL is kube-apiserver's base URL, "https://127.0.0.1:<port>".
func (c *Cluster) URL() string { return c.url }

// Dir is the cluster's working directory (PKI, kubeconfigs, logs).
func (c *Cluster) Dir() string { return c.dir }

// Binaries are the programs the cluster runs.
func (c *Cluster) Binaries() Binaries { return c.bins }

// StartupTime is how long Start took once the binaries were there: PKI,
// etcd and kube-apiserver up to a ready /readyz.
func (c *Cluster) StartupTime() time.Duration { return c.started }

// CA is the cluster CA: it signed kube-apiserver's serving certificate and
// can issue serving certificates for aggregated backends.
func (c *Cluster) CA() *CA { return c.ca }

// CAPEM is the cluster CA's certificate (PEM).
func (c *Cluster) CAPEM() []byte { return c.ca.CertPEM }

// CAFile is the path of the cluster CA's certificate.
func (c *Cluster) CAFile() string { return filepath.Join(c.dir, "ca.crt") }

// FrontProxyCAFile is the CA that signed the client certificate the
// aggregator presents to backends (a backend's --requestheader-client-ca-file).
func (c *Cluster) FrontProxyCAFile() string { return filepath.Join(c.dir, "front-proxy-ca.crt") }

// FrontProxyCA is the front-proxy CA; tests can issue client certificates
// with it (a forged front proxy uses another CA).
func (c *Cluster) FrontProxyCA() *CA { return c.frontCA }

// Token is the static bearer token of user ("" for an unknown user).
func (c *Cluster) Token(user string) string { return c.tokens[user] }

// AdminConfig is a client-go config for AdminUser.
func (c *Cluster) AdminConfig() *rest.Config { return c.TokenConfig(c.tokens[AdminUser]) }

// UserConfig is a client-go config for a user of the token file; it
// panics for an unknown user (a test bug).
func (c *Cluster) UserConfig(user string) *rest.Config {
	tok, ok := c.tokens[user]
	if !ok {
		panic(fmt.Sprintf("harness: unknown user %q", user))
	}
	return c.TokenConfig(tok)
}

// TokenConfig is a client-go config that sends token (for example a
// service-account token) and trusts the cluster CA.
func (c *Cluster) TokenConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.url,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.ca.CertPEM},
		Timeout:         30 * time.Second,
		QPS:             -1,
	}
}

// AdminKubeconfig is the path of a kubeconfig for AdminUser.
func (c *Cluster) AdminKubeconfig() string { return c.UserKubeconfig(AdminUser) }

// UserKubeconfig is the path of a kubeconfig for a user of the token file
// (written once, in the cluster's directory). It panics for an unknown user.
func (c *Cluster) UserKubeconfig(user string) string {
	tok, ok := c.tokens[user]
	if !ok {
		panic(fmt.Sprintf("harness: unknown user %q", user))
	}
	c.kubeconfigMu.Lock()
	defer c.kubeconfigMu.Unlock()
	if p, ok := c.kubeconfigs[user]; ok {
		return p
	}
	p := filepath.Join(c.dir, "kubeconfig-"+user)
	if err := c.WriteKubeconfig(p, user, tok); err != nil {
		panic(fmt.Sprintf("harness: write kubeconfig: %v", err))
	}
	c.kubeconfigs[user] = p
	return p
}

// WriteKubeconfig writes a kubeconfig at path for this cluster with a bearer
// token; name names its context and user entry. The context's namespace is
// "default".
func (c *Cluster) WriteKubeconfig(path, name, token string) error {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = c.url
	cluster.CertificateAuthorityData = c.ca.CertPEM
	cfg.Clusters["e2e"] = cluster
	auth := clientcmdapi.NewAuthInfo()
	auth.Token = token
	cfg.AuthInfos[name] = auth
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo, kctx.Namespace = "e2e", name, "default"
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}

// LogFiles are the paths of the etcd and kube-apiserver logs.
func (c *Cluster) LogFiles() []string {
	return []string{filepath.Join(c.dir, "etcd.log"), filepath.Join(c.dir, "kube-apiserver.log")}
}

// logTails returns the last n lines of each log, labelled.
func (c *Cluster) logTails(n int) string {
	var b strings.Builder
	for _, f := range c.LogFiles() {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- last %d lines of %s ---\n%s\n", n, f, tail(string(data), n))
	}
	return b.String()
}

// httpClient is an HTTP client for kube-apiserver sending token.
func (c *Cluster) httpClient(token string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ca.CertPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	var rt http.RoundTripper = tr
	if token != "" {
		rt = bearerRT{token: token, next: tr}
	}
	return &http.Client{Transport: rt, Timeout: 10 * time.Second}
}

type bearerRT struct {
	token string
	next  http.RoundTripper
}

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func waitHTTP(ctx context.Context, hc *http.Client, url string, p *process) error {
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("process exited (%v); last check: %s", p.exitErr, last)
		case <-ctx.Done():
			return fmt.Errorf("%w; last check: %s", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// process is a started control-plane program writing to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{}
	exitErr error
}

func startProcess(bin, logPath string, env []string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(logFile, "# %s %s\n", bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &process{name: filepath.Base(bin), cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM, waits up to grace, then kills.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", p.name, grace)
	}
}
