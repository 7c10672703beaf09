package harness

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
)

// ServiceAccountIssuer is the cluster's --service-account-issuer (and so
// the audience its tokens carry by default).
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// SignServiceAccountToken signs a service-account token for an existing
// service account with the cluster's signing key, as kube-apiserver's
// TokenRequest would, but with the validity window given: the TokenRequest
// API refuses expirations under 10 minutes, so tests of expired tokens mint
// theirs here (expires in the past).
func (c *Cluster) SignServiceAccountToken(ctx context.Context, ns, sa string, notBefore, expires time.Time) (string, error) {
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return "", err
	}
	obj, err := dyn.Resource(saGVR).Namespace(ns).Get(ctx, sa, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("service account %s/%s: %w", ns, sa, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(c.dir, "sa.key"))
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return "", errors.New("sa.key: no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return "", err
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return "", errors.New("sa.key: not an ECDSA key")
	}
	header := map[string]any{"alg": "ES256", "typ": "JWT"}
	claims := map[string]any{
		"iss": ServiceAccountIssuer,
		"aud": []string{ServiceAccountIssuer},
		"sub": "system:serviceaccount:" + ns + ":" + sa,
		"iat": notBefore.Unix(),
		"nbf": notBefore.Unix(),
		"exp": expires.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      ns,
			"serviceaccount": map[string]any{"name": sa, "uid": string(obj.GetUID())},
		},
	}
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b), err
	}
	h, err := enc(header)
	if err != nil {
		return "", err
	}
	p, err := enc(claims)
	if err != nil {
		return "", err
	}
	signed := h + "." + p
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64) // JWS ES256: r and s, 32 bytes each
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
