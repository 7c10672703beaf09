package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Access says whether this identity may list external metrics in a
// namespace, as a kube-apiserver's authorizer decides it.
type Access struct {
	User      string `json:"user,omitempty"` // who kube-apiserver says we are ("" when it does not say)
	Namespace string `json:"namespace"`
	Allowed   bool   `json:"allowed"`
	Reason    string `json:"reason,omitempty"` // the authorizer's reason or evaluation error
}

// String is one line for humans: "user viewer may not list
// external.metrics.k8s.io in default".
func (a Access) String() string {
	who := "this identity"
	if a.User != "" {
		who = "user " + a.User
	}
	verb := "may"
	if !a.Allowed {
		verb = "may not"
	}
	s := fmt.Sprintf("%s %s list %s in %s", who, verb, groupName, a.Namespace)
	if a.Reason != "" {
		s += " (" + a.Reason + ")"
	}
	return s
}

// AccessReview asks a kube-apiserver whether this identity may list
// external metrics (every resource of external.metrics.k8s.io) in
// namespace, with a SelfSubjectAccessReview, and who it is, with a
// SelfSubjectReview. Only meaningful when the server is a kube-apiserver
// (HealthResult.KubeAPIServer). Errors wrap one sentinel like every error
// of the provider.
func (p *Provider) AccessReview(ctx context.Context, namespace string) (Access, error) {
	a := Access{Namespace: namespace}
	review := map[string]any{
		"apiVersion": "authorization.k8s.io/v1",
		"kind":       "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]any{
			"group": groupName, "version": apiVersion, "resource": "*", "verb": "list", "namespace": namespace,
		}},
	}
	var sar struct {
		Status struct {
			Allowed         bool   `json:"allowed"`
			Reason          string `json:"reason"`
			EvaluationError string `json:"evaluationError"`
		} `json:"status"`
	}
	if err := p.post(ctx, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, &sar); err != nil {
		return a, err
	}
	a.Allowed = sar.Status.Allowed
	a.Reason = sar.Status.Reason
	if sar.Status.EvaluationError != "" {
		a.Reason = sar.Status.EvaluationError
	}
	var ssr struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	// Who we are is a nicety: older servers lack SelfSubjectReview.
	if err := p.post(ctx, "/apis/authentication.k8s.io/v1/selfsubjectreviews",
		map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, &ssr); err == nil {
		a.User = ssr.Status.UserInfo.Username
	}
	return a, nil
}

// post sends one JSON object (not retried) and decodes the 201/200 answer.
func (p *Provider) post(ctx context.Context, path string, in, out any) error {
	if p.entry == nil {
		return &Error{Kind: ErrUnavailable, Op: "access", Message: "provider not built with provider.New"}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return &Error{Kind: ErrInvalidQuery, Op: "access", Message: err.Error(), Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.server+path, bytes.NewReader(body))
	if err != nil {
		return &Error{Kind: ErrInvalidQuery, Op: "access", Message: err.Error(), Err: err}
	}
	req.Header["Accept"] = acceptJSON
	req.Header["Content-Type"] = acceptJSON
	req.Header["User-Agent"] = p.userAgent
	resp, err := p.client.Do(req)
	if err != nil {
		msg, kind := transportError(err, p.timeout, p.redactor())
		return &Error{Kind: kind, Op: "access", Message: msg, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		kind, msg, cause := statusError(resp.StatusCode, resp.Header, b, p.redactor())
		return &Error{Kind: kind, Op: "access", StatusCode: resp.StatusCode, Message: msg, Err: cause}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &Error{Kind: ErrUnavailable, Op: "access", StatusCode: resp.StatusCode,
			Message: fmt.Sprintf("%s: malformed answer (body starts %q)", path, p.redactor().redact(snippet(b, 80))), Err: err}
	}
	return nil
}
