package devserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// The admin API (under /admin/v1/):
//
//	GET    state                             every series with its current value, and the faults
//	PUT    namespaces/{ns}/metrics/{name}    {"labels": {...}, "value": 1.5 | "1500m"}: set a constant series
//	DELETE namespaces/{ns}/metrics/{name}    {"labels": {...}} (body optional): delete a series
//	GET    faults, faults/{metric}           the fault in force (global, or for one metric)
//	PUT    faults, faults/{metric}           a scenario.Fault as JSON: set the fault
//	DELETE faults, faults/{metric}           clear the fault
//
// With an admin token configured only that token is accepted; otherwise any
// accepted bearer token (which must allow {ns} for namespaced paths).

// seriesBody is the body of PUT/DELETE namespaces/{ns}/metrics/{name}.
type seriesBody struct {
	Labels map[string]string `json:"labels"`
	Value  json.RawMessage   `json:"value"`
}

// seriesReply echoes a series that was set.
type seriesReply struct {
	Namespace string            `json:"namespace"`
	Metric    string            `json:"metric"`
	Labels    map[string]string `json:"labels"`
	Value     string            `json:"value"`
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request, rest string) (code int, who string) {
	var id *identity
	switch {
	case s.auth.hasAdmin:
		if !s.auth.isAdmin(r) {
			if other := s.auth.authenticate(r); other != nil && s.auth.enabled() {
				return writeStatus(w, metav1.Status{Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
					Message: "the admin API needs the admin token"}), other.name
			}
			w.Header()["Www-Authenticate"] = []string{`Bearer realm="extmetrics devserver admin"`}
			return writeStatus(w, statusUnauthorized()), anonymous.name
		}
		id = adminIdentity
	default:
		id = s.auth.authenticate(r)
		if id == nil {
			w.Header()["Www-Authenticate"] = []string{`Bearer realm="extmetrics devserver"`}
			return writeStatus(w, statusUnauthorized()), anonymous.name
		}
	}
	who = id.name

	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] == "state":
		if !isRead(r.Method) {
			return methodNotAllowed(w, "GET, HEAD"), who
		}
		body, err := json.Marshal(s.store.Snapshot())
		if err != nil {
			return writeStatus(w, statusForCode(http.StatusInternalServerError, "Internal error occurred: encode state: "+err.Error())), who
		}
		return writeJSON(w, append(body, '\n')), who
	case parts[0] == "faults" && len(parts) <= 2:
		metric := ""
		if len(parts) == 2 {
			if parts[1] == "" {
				break
			}
			metric = s.metricName(parts[1])
		}
		return s.adminFault(w, r, metric), who
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "metrics" && parts[1] != "" && parts[3] != "":
		ns, metric := parts[1], parts[3]
		if !id.allows(ns) {
			return writeStatus(w, statusForbidden(id.name, metric, ns)), who
		}
		return s.adminSeries(w, r, ns, metric), who
	}
	return writeStatus(w, statusNotFoundPath()), who
}

func (s *Server) adminFault(w http.ResponseWriter, r *http.Request, metric string) int {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return writeJSON(w, mustJSON(s.store.Fault(metric)))
	case http.MethodPut:
		var f scenario.Fault
		if code, ok := decodeBody(w, r, &f, true); !ok {
			return code
		}
		if f.IsZero() {
			// As in a scenario file: a fault must inject something; DELETE clears.
			return writeStatus(w, statusForCode(http.StatusBadRequest, "the fault injects nothing: set at least one of "+strings.Join(scenario.FaultKeys(), ", ")+" (DELETE clears a fault)"))
		}
		s.store.SetFault(metric, f)
		s.log.Info("fault set through the admin API", "metric", metric, "fault", f)
		return writeJSON(w, mustJSON(f))
	case http.MethodDelete:
		s.store.SetFault(metric, scenario.Fault{})
		s.log.Info("fault cleared through the admin API", "metric", metric)
		return writeStatus(w, metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusOK, Message: "fault cleared"})
	}
	return methodNotAllowed(w, "GET, HEAD, PUT, DELETE")
}

func (s *Server) adminSeries(w http.ResponseWriter, r *http.Request, ns, metric string) int {
	if !validNamespace(ns) {
		return writeStatus(w, statusForCode(http.StatusBadRequest, fmt.Sprintf("invalid namespace %q: must be a DNS-1123 label", clip(ns))))
	}
	switch r.Method {
	case http.MethodPut:
		var b seriesBody
		if code, ok := decodeBody(w, r, &b, true); !ok {
			return code
		}
		value, err := rawValue(b.Value)
		if err != nil {
			return writeStatus(w, statusForCode(http.StatusBadRequest, "value: "+err.Error()))
		}
		if err := s.store.Set(ns, metric, b.Labels, value); err != nil {
			return writeStatus(w, statusForCode(http.StatusBadRequest, err.Error()))
		}
		s.log.Info("series set through the admin API", "namespace", ns, "metric", metric, "labels", b.Labels, "value", value)
		lbls := b.Labels
		if lbls == nil {
			lbls = map[string]string{}
		}
		return writeJSON(w, mustJSON(seriesReply{Namespace: ns, Metric: metric, Labels: lbls, Value: value}))
	case http.MethodDelete:
		var b seriesBody
		if code, ok := decodeBody(w, r, &b, false); !ok {
			return code
		}
		if b.Value != nil {
			return writeStatus(w, statusForCode(http.StatusBadRequest, "value: not allowed in a DELETE body (only labels)"))
		}
		if !s.store.Delete(ns, metric, b.Labels) {
			return writeStatus(w, metav1.Status{Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
				Message: fmt.Sprintf("no series %s/%s with labels %v", ns, metric, labelsString(b.Labels))})
		}
		s.log.Info("series deleted through the admin API", "namespace", ns, "metric", metric, "labels", b.Labels)
		return writeStatus(w, metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusOK, Message: "series deleted"})
	}
	return methodNotAllowed(w, "PUT, DELETE")
}

// rawValue turns the JSON value (a number or a string) into the string the
// store parses.
func rawValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", errors.New(`required: a number or a quantity string such as "1500m"`)
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", err
		}
		return n.String(), nil
	}
	return "", fmt.Errorf(`want a number or a quantity string such as "1500m", got %s`, clip(string(raw)))
}

// decodeBody reads a JSON object of at most MaxAdminBodyBytes into v,
// refusing unknown fields and trailing data. An empty body is an error when
// required, else leaves v alone.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, required bool) (code int, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAdminBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return writeStatus(w, statusForCode(http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body larger than %d bytes", MaxAdminBodyBytes))), false
		}
		return writeStatus(w, statusForCode(http.StatusBadRequest, "reading request body: "+err.Error())), false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return writeStatus(w, statusForCode(http.StatusBadRequest, "request body: want a JSON object, got an empty body")), false
		}
		return 0, true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return writeStatus(w, statusForCode(http.StatusBadRequest, "request body: "+describeJSONError(body, err))), false
	}
	if dec.More() {
		return writeStatus(w, statusForCode(http.StatusBadRequest, "request body: unexpected data after the JSON object")), false
	}
	return 0, true
}

// describeJSONError says what is wrong and where (byte offset) in a body.
func describeJSONError(body []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("%s: want %s, got JSON %s (byte %d)", field, te.Type, te.Value, te.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Sprintf("JSON ends early after %d bytes", len(body))
	}
	return err.Error()
}

func labelsString(l map[string]string) string {
	if len(l) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(l)
	return string(b)
}
