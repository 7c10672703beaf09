package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// Defaults of Backend.
const (
	DefaultBackendService   = "extmetrics-backend"
	DefaultBackendNamespace = "extmetrics-system"
	// ExternalMetricsAPIService is the APIService RegisterExternalMetrics
	// creates.
	ExternalMetricsAPIService = "v1beta1.external.metrics.k8s.io"
)

var (
	apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	saGVR         = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
)

// Backend is an External Metrics API server on this machine that
// kube-apiserver should proxy external.metrics.k8s.io to.
type Backend struct {
	// Port is the backend's HTTPS port on Host.
	Port int
	// Host is where the ExternalName Service points; default "localhost".
	Host string
	// Service and Namespace name the ExternalName Service; kube-apiserver
	// verifies the backend's certificate for "<Service>.<Namespace>.svc".
	// Defaults: DefaultBackendService, DefaultBackendNamespace.
	Service, Namespace string
	// CABundle verifies the backend's serving certificate; default the
	// cluster CA (see BackendCert).
	CABundle []byte
	// NoWait returns as soon as the objects exist instead of waiting for
	// the APIService to be Available.
	NoWait bool
}

func (b *Backend) defaults(c *Cluster) {
	if b.Host == "" {
		b.Host = "localhost"
	}
	if b.Service == "" {
		b.Service = DefaultBackendService
	}
	if b.Namespace == "" {
		b.Namespace = DefaultBackendNamespace
	}
	if b.CABundle == nil {
		b.CABundle = c.ca.CertPEM
	}
}

// BackendCert issues a serving certificate, signed by the cluster CA, for a
// backend behind the aggregator: its names are "<service>.<namespace>.svc"
// (what kube-apiserver verifies), localhost and 127.0.0.1 (for direct
// access in the same test). Empty service and namespace take Backend's
// defaults. The files are written in dir; their paths are returned.
func (c *Cluster) BackendCert(dir, service, namespace string) (certFile, keyFile string, err error) {
	if service == "" {
		service = DefaultBackendService
	}
	if namespace == "" {
		namespace = DefaultBackendNamespace
	}
	kp, err := c.ca.Issue(CertRequest{
		CommonName: service + "." + namespace + ".svc",
		DNSNames:   []string{service + "." + namespace + ".svc", "localhost"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	})
	if err != nil {
		return "", "", err
	}
	return kp.Write(dir, service+"."+namespace)
}

// RegisterExternalMetrics points the APIService
// v1beta1.external.metrics.k8s.io at b through an ExternalName Service
// (creating the namespace when needed). Registering again replaces the
// previous backend. Unless b.NoWait, it waits (up to 60 s) until the
// APIService is Available, and otherwise returns its condition.
func (c *Cluster) RegisterExternalMetrics(ctx context.Context, b Backend) error {
	b.defaults(c)
	if b.Port <= 0 || b.Port > 65535 {
		return fmt.Errorf("backend port %d out of range", b.Port)
	}
	objs := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: Service
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  type: ExternalName
  externalName: %[3]s
  ports:
  - name: https
    port: %[4]d
    protocol: TCP
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: %[5]s
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service:
    name: %[2]s
    namespace: %[1]s
    port: %[4]d
  caBundle: %[6]q
`, b.Namespace, b.Service, b.Host, b.Port, ExternalMetricsAPIService, base64.StdEncoding.EncodeToString(b.CABundle))
	if err := c.ApplyYAML(ctx, objs); err != nil {
		return err
	}
	if b.NoWait {
		return nil
	}
	if err := c.WaitExternalMetrics(ctx, true, 60*time.Second); err != nil {
		return err
	}
	// The proxy learns of the change through its own informer: wait until
	// a request through kube-apiserver reaches a backend.
	return c.waitProxied(ctx, 30*time.Second)
}

// waitProxied polls GET /apis/external.metrics.k8s.io/v1beta1 as the admin
// until kube-apiserver proxies it to a backend that answers 200.
func (c *Cluster) waitProxied(ctx context.Context, timeout time.Duration) error {
	hc := c.httpClient(c.tokens[AdminUser])
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/apis/external.metrics.k8s.io/v1beta1", http.NoBody)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("APIService %s is Available but requests through kube-apiserver do not reach the backend: %s", ExternalMetricsAPIService, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// UnregisterExternalMetrics deletes the APIService (the Service stays).
func (c *Cluster) UnregisterExternalMetrics(ctx context.Context) error {
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	err = dyn.Resource(apiServiceGVR).Delete(ctx, ExternalMetricsAPIService, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// APIServiceCondition is the Available condition of an APIService.
type APIServiceCondition struct {
	Available bool
	Reason    string
	Message   string
}

// ExternalMetricsCondition reads the Available condition of the
// external metrics APIService.
func (c *Cluster) ExternalMetricsCondition(ctx context.Context) (APIServiceCondition, error) {
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return APIServiceCondition{}, err
	}
	obj, err := dyn.Resource(apiServiceGVR).Get(ctx, ExternalMetricsAPIService, metav1.GetOptions{})
	if err != nil {
		return APIServiceCondition{}, err
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, raw := range conds {
		m, ok := raw.(map[string]any)
		if !ok || m["type"] != "Available" {
			continue
		}
		reason, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		return APIServiceCondition{Available: m["status"] == "True", Reason: reason, Message: msg}, nil
	}
	return APIServiceCondition{Reason: "NoCondition", Message: "the APIService has no Available condition yet"}, nil
}

// WaitExternalMetrics waits until the external metrics APIService's
// Available condition is available (true or false), for at most timeout.
func (c *Cluster) WaitExternalMetrics(ctx context.Context, available bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last APIServiceCondition
	var lastErr error
	for {
		last, lastErr = c.ExternalMetricsCondition(ctx)
		if lastErr == nil && last.Available == available {
			return nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("APIService %s: %w", ExternalMetricsAPIService, lastErr)
			}
			return fmt.Errorf("APIService %s: Available is not %v after %s: %s: %s", ExternalMetricsAPIService, available, timeout, last.Reason, last.Message)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ApplyYAML server-side applies every object of a YAML (or JSON) stream as
// the admin, in order; namespaced objects without a namespace go to
// "default".
func (c *Cluster) ApplyYAML(ctx context.Context, manifest string) error {
	cfg := c.AdminConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for i := 0; ; i++ {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("object %d: %w", i+1, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("object %d (%s %s): %w", i+1, gvk.Kind, obj.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace("default")
			}
			ri = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		if _, err := ri.Apply(ctx, obj.GetName(), &obj, metav1.ApplyOptions{FieldManager: "extmetrics-e2e", Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
	}
}

// ServiceAccountToken creates namespace ns and service account sa when
// they are missing and mints a token for it with the TokenRequest API
// (expiration 0 = the server's default, one hour). Deleting the service
// account revokes the token.
func (c *Cluster) ServiceAccountToken(ctx context.Context, ns, sa string, expiration time.Duration) (string, error) {
	if err := c.ApplyYAML(ctx, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s\n  namespace: %s\n", ns, sa, ns)); err != nil {
		return "", err
	}
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return "", err
	}
	spec := map[string]any{"audiences": []any{}}
	if expiration > 0 {
		spec["expirationSeconds"] = int64(expiration / time.Second)
	}
	req := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenRequest",
		"metadata":   map[string]any{"name": sa}, // the dynamic client's subresource URL takes it from here
		"spec":       spec,
	}}
	out, err := dyn.Resource(saGVR).Namespace(ns).Create(ctx, req, metav1.CreateOptions{}, "token")
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", ns, sa, err)
	}
	tok, _, _ := unstructured.NestedString(out.Object, "status", "token")
	if tok == "" {
		return "", fmt.Errorf("TokenRequest for %s/%s: no token in the answer", ns, sa)
	}
	return tok, nil
}

// DeleteServiceAccount deletes a service account, which revokes its tokens.
func (c *Cluster) DeleteServiceAccount(ctx context.Context, ns, sa string) error {
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	return dyn.Resource(saGVR).Namespace(ns).Delete(ctx, sa, metav1.DeleteOptions{})
}

// KubectlPath is the real kubectl: $KUBECTL, else kubectl on the PATH.
func KubectlPath() (string, error) {
	if p := os.Getenv("KUBECTL"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		return "", errors.New("kubectl not found (set $KUBECTL or put it on the PATH)")
	}
	return p, nil
}

// Kubectl runs the real kubectl as AdminUser; see KubectlAs.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return c.KubectlAs(ctx, AdminUser, args...)
}

// KubectlAs runs the real kubectl with user's kubeconfig, a private HOME
// and cache directory, and at most 60 s; it returns stdout, stderr and the
// error (whose message includes stderr's last lines).
func (c *Cluster) KubectlAs(ctx context.Context, user string, args ...string) (stdout, stderr string, err error) {
	return c.KubectlWithKubeconfig(ctx, c.UserKubeconfig(user), args...)
}

// KubectlWithKubeconfig runs the real kubectl with any kubeconfig.
func (c *Cluster) KubectlWithKubeconfig(ctx context.Context, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	bin, err := KubectlPath()
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	home, err := os.MkdirTemp(c.dir, "kubectl-home-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(home)
	args = append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(home, "cache")}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+kubeconfig)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args[4:], " "), err, tail(errOut.String(), 5))
	}
	return out.String(), errOut.String(), nil
}
