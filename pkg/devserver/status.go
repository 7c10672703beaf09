package devserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and version served.
const (
	GroupName    = "external.metrics.k8s.io"
	Version      = "v1beta1"
	GroupVersion = GroupName + "/" + Version
)

var (
	contentTypeJSON = []string{"application/json"}
	contentTypeText = []string{"text/plain; charset=utf-8"}
	noSniff         = []string{"nosniff"}
)

// statusTypeMeta is the TypeMeta every Status body carries.
var statusTypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}

// writeStatus writes st as the JSON body with st.Code as the HTTP status.
func writeStatus(w http.ResponseWriter, st metav1.Status) int {
	st.TypeMeta = statusTypeMeta
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	body, err := json.Marshal(st)
	if err != nil { // a metav1.Status always marshals; keep a valid body anyway
		body = []byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"internal error","reason":"InternalError","code":500}`)
		st.Code = http.StatusInternalServerError
	}
	body = append(body, '\n')
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	code := int(st.Code)
	w.WriteHeader(code)
	_, _ = w.Write(body)
	return code
}

// writeAPIError writes a StatusError built by k8s.io/apimachinery/pkg/api/errors.
func writeAPIError(w http.ResponseWriter, err *apierrors.StatusError) int {
	return writeStatus(w, err.ErrStatus)
}

func statusNotFoundPath() metav1.Status {
	return metav1.Status{
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{},
	}
}

func statusMethodNotAllowed() metav1.Status {
	return metav1.Status{
		Code:    http.StatusMethodNotAllowed,
		Reason:  metav1.StatusReasonMethodNotAllowed,
		Message: "the server does not allow this method on the requested resource",
		Details: &metav1.StatusDetails{},
	}
}

func statusUnauthorized() metav1.Status {
	return metav1.Status{
		Code:    http.StatusUnauthorized,
		Reason:  metav1.StatusReasonUnauthorized,
		Message: "Unauthorized",
	}
}

// statusForbidden is what kube-apiserver answers when RBAC denies a list
// (a metric value request is a list of the metric "resource").
func statusForbidden(who, resource, namespace string) metav1.Status {
	msg := "User \"" + who + "\" cannot list resource \"" + resource + "\" in API group \"" + GroupName + "\""
	if namespace != "" {
		msg += " in the namespace \"" + namespace + "\""
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: GroupName, Resource: resource}, "", errors.New(msg)).ErrStatus
}

// statusMetricNotFound is what custom-metrics-apiserver based servers
// (prometheus-adapter among them) answer for an unknown external metric.
func statusMetricNotFound(metric string) metav1.Status {
	return metav1.Status{
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: "the server could not find the metric " + metric + " for namespaces",
	}
}

// statusForCode builds a Status for an injected error status.
func statusForCode(code int, message string) metav1.Status {
	reason := metav1.StatusReasonUnknown
	switch code {
	case http.StatusBadRequest:
		reason = metav1.StatusReasonBadRequest
	case http.StatusUnauthorized:
		reason = metav1.StatusReasonUnauthorized
	case http.StatusForbidden:
		reason = metav1.StatusReasonForbidden
	case http.StatusNotFound:
		reason = metav1.StatusReasonNotFound
	case http.StatusMethodNotAllowed:
		reason = metav1.StatusReasonMethodNotAllowed
	case http.StatusConflict:
		reason = metav1.StatusReasonConflict
	case http.StatusRequestEntityTooLarge:
		reason = metav1.StatusReasonRequestEntityTooLarge
	case http.StatusUnsupportedMediaType:
		reason = metav1.StatusReasonUnsupportedMediaType
	case http.StatusUnprocessableEntity:
		reason = metav1.StatusReasonInvalid
	case http.StatusTooManyRequests:
		reason = metav1.StatusReasonTooManyRequests
	case http.StatusInternalServerError:
		reason = metav1.StatusReasonInternalError
	case http.StatusServiceUnavailable:
		reason = metav1.StatusReasonServiceUnavailable
	case http.StatusGatewayTimeout:
		reason = metav1.StatusReasonTimeout
	}
	if message == "" {
		message = http.StatusText(code)
	}
	return metav1.Status{Code: int32(code), Reason: reason, Message: message}
}
