package doctor

import (
	"cmp"
	"slices"
)

// Severity is how bad a finding is.
type Severity string

// Severities, worst first.
const (
	SeverityError   Severity = "error"   // a rollout will fail (or leak a credential): fix before releasing
	SeverityWarning Severity = "warning" // a rollout may fail, or works for a reason that will not last
	SeverityInfo    Severity = "info"    // what doctor found; nothing to fix
)

func (s Severity) rank() int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	}
	return 2
}

// Object names the Kubernetes object a finding is about.
type Object struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Finding is one thing doctor found. Its ID is stable (docs/doctor.md lists
// every ID); the texts are for people and may change.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Object   Object   `json:"object"`
	// Message says what was found.
	Message string `json:"message"`
	// Rollout says what will happen during a rollout because of it ("" for
	// info findings that change nothing).
	Rollout string `json:"rollout,omitempty"`
	// Fix says what to do ("" when nothing is to be done).
	Fix string `json:"fix,omitempty"`
	// Details are facts behind the finding (value, items, age, canaries,
	// query, image, ...), all strings.
	Details map[string]string `json:"details,omitempty"`
}

// SchemaVersion is Report.APIVersion: the version of the JSON schema
// (docs/doctor.md). Fields are only ever added within a version.
const SchemaVersion = "extmetrics.dev/doctor/v1"

// Report is what Run returns and -o json prints.
type Report struct {
	APIVersion string `json:"apiVersion"`
	// Cluster is the API server doctor read.
	Cluster string `json:"cluster"`
	// Namespaces checked; empty means all.
	Namespaces []string  `json:"namespaces,omitempty"`
	Findings   []Finding `json:"findings"`
	Summary    Summary   `json:"summary"`
}

// Summary counts the findings by severity.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
}

// HasErrors reports whether any finding is an error.
func (r *Report) HasErrors() bool { return r.Summary.Errors > 0 }

// finish sorts the findings (severity, ID, object) and counts them.
func (r *Report) finish() {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Severity.rank(), b.Severity.rank()), cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Object.Kind, b.Object.Kind), cmp.Compare(a.Object.Namespace, b.Object.Namespace),
			cmp.Compare(a.Object.Name, b.Object.Name), cmp.Compare(a.Message, b.Message))
	})
	r.Summary = Summary{}
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityError:
			r.Summary.Errors++
		case SeverityWarning:
			r.Summary.Warnings++
		default:
			r.Summary.Info++
		}
	}
}
