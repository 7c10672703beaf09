package metricplugin

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/extmetrics/extmetrics/pkg/provider"
)

// SecretGetter reads a Secret's data. The default reads it through the
// controller's configuration (the same identity the controller uses).
type SecretGetter interface {
	SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// ErrSecretNotFound is returned (wrapped) by a SecretGetter when the Secret
// does not exist.
var ErrSecretNotFound = errors.New("secret not found")

// LoadConfig is the default way the plugin finds the cluster: the kubeconfig
// file when one is given (flag --kubeconfig), else the in-cluster
// configuration of the rollouts controller's pod, else the default kubeconfig
// loading rules ($KUBECONFIG, ~/.kube/config) for a controller run outside a
// cluster.
func LoadConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return cfg, nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, fmt.Errorf("in-cluster configuration: %w", err)
	}
	cfg, kerr := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if kerr != nil {
		return nil, fmt.Errorf("not running in a cluster and no usable kubeconfig: %w", kerr)
	}
	return cfg, nil
}

// kubeSecrets reads Secrets with a client-go clientset.
type kubeSecrets struct{ client kubernetes.Interface }

// NewKubeSecrets is a SecretGetter using cfg.
func NewKubeSecrets(cfg *rest.Config) (SecretGetter, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "rollouts-plugin-metric-extmetrics"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return kubeSecrets{client: c}, nil
}

func (k kubeSecrets) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := k.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s/%s", ErrSecretNotFound, namespace, name)
	}
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}

// specFromSecret turns a Secret's data into provider.Spec data: the token
// from ref.Key, and ca.crt, tls.crt, tls.key when present.
func specFromSecret(data map[string][]byte, ref *SecretRef, namespace string) (map[string][]byte, error) {
	out := make(map[string][]byte, 4)
	if tok, ok := data[ref.Key]; ok {
		out[provider.SecretKeyToken] = tok
	} else if ref.Key != DefaultTokenKey {
		return nil, &ConfigError{Field: "secretRef.key", Msg: fmt.Sprintf("secret %s/%s has no key %q", namespace, ref.Name, ref.Key)}
	}
	for _, k := range []string{provider.SecretKeyCA, provider.SecretKeyClientCert, provider.SecretKeyClientKey} {
		if v, ok := data[k]; ok {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil, &ConfigError{Field: "secretRef.name", Msg: fmt.Sprintf("secret %s/%s holds none of %s, %s, %s, %s", namespace, ref.Name,
			ref.Key, provider.SecretKeyCA, provider.SecretKeyClientCert, provider.SecretKeyClientKey)}
	}
	return out, nil
}
