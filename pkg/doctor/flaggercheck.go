package doctor

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// Version is a Flagger release: major.minor.patch.
type Version struct{ Major, Minor, Patch int }

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads "1.44.0", "v1.44.0" or an image tag such as "1.44.0-rc.1".
func ParseVersion(s string) (Version, bool) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Version{}, false
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, true
}

func (v Version) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

func (v Version) less(major, minor int) bool {
	return v.Major < major || v.Major == major && v.Minor < minor
}

// HasExternalMetrics reports whether Flagger has the externalmetrics provider (from v1.43).
func (v Version) HasExternalMetrics() bool { return !v.less(1, 43) }

// HasPodDefects reports whether this version (v1.43 or v1.44) mishandles a
// template's credentials when Flagger runs in a pod (FlaggerPodDefects).
func (v Version) HasPodDefects() bool { return v.HasExternalMetrics() && v.less(1, 45) }

// podCompatPrefix starts the codes of flagger.FlaggerPodCompat's notes.
const podCompatPrefix = "flagger-pod-"

// podFindings maps flagger.FlaggerPodCompat's notes (the one rule for which
// Flagger v1.43–v1.44 in-pod defect applies to a template, shared with
// analyze) to doctor's finding IDs and severities.
var podFindings = map[string]struct {
	id  string
	sev Severity
}{
	flagger.CompatPodInsecureSkipVerify: {"flagger.insecure-skip-verify", SeverityError},
	flagger.CompatPodSecretTokenIgnored: {"flagger.token-ignored", SeverityError},
	flagger.CompatPodTokenLeak:          {"flagger.controller-token", SeverityError},
	flagger.CompatPodSecretCAIgnored:    {"flagger.ca-ignored", SeverityError},
	flagger.CompatPodClientCertIgnored:  {"flagger.client-cert-ignored", SeverityError},
	flagger.CompatPodSecretIgnored:      {"flagger.secret-ignored", SeverityWarning},
}

// flaggerInfo is what doctor found out about the Flagger installation.
type flaggerInfo struct {
	found      bool
	namespace  string
	name       string
	sa         string
	version    Version
	hasVersion bool
}

func (fi *flaggerInfo) object() Object {
	if !fi.found {
		return Object{Kind: "Deployment", Name: "flagger"}
	}
	return Object{Kind: "Deployment", Namespace: fi.namespace, Name: fi.name}
}

// checkFlaggerInstall finds Flagger's Deployment, its version and service
// account, and checks the MetricTemplate CRD accepts externalmetrics.
func (r *run) checkFlaggerInstall(_ context.Context) {
	fi := &flaggerInfo{}
	r.flagger = fi
	for i := range r.inv.deployments {
		d := &r.inv.deployments[i]
		for _, img := range images(d) {
			repo, tag, _ := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
			if repo != "flagger" || strings.Contains(img, "loadtester") {
				continue
			}
			fi.found, fi.namespace, fi.name = true, d.Namespace, d.Name
			fi.sa = d.Spec.Template.Spec.ServiceAccountName
			if fi.sa == "" {
				fi.sa = "default"
			}
			fi.version, fi.hasVersion = ParseVersion(tag)
		}
		if fi.found {
			break
		}
	}
	if r.opts.FlaggerVersion != "" {
		fi.version, fi.hasVersion = ParseVersion(r.opts.FlaggerVersion)
	}
	switch {
	case fi.found && fi.hasVersion:
		r.add(Finding{ID: "flagger.found", Severity: SeverityInfo, Object: fi.object(),
			Message: fmt.Sprintf("Flagger %s, service account %s/%s", fi.version, fi.namespace, fi.sa)})
	case fi.found:
		r.add(Finding{ID: "flagger.version-unknown", Severity: SeverityWarning, Object: fi.object(),
			Message: "Flagger's version cannot be read from its image tag: version-specific checks are skipped",
			Fix:     "give --flagger-version (e.g. 1.44.0)"})
	case r.inv.deployErr == nil && !fi.hasVersion:
		r.add(Finding{ID: "flagger.not-found", Severity: SeverityInfo, Object: fi.object(),
			Message: "no Flagger Deployment found (image .../flagger:<version>): Flagger's version, RBAC and per-version defects are not checked",
			Fix:     "give --flagger-version if Flagger runs elsewhere"})
	}
	if fi.hasVersion && !fi.version.HasExternalMetrics() {
		r.add(Finding{ID: "flagger.too-old", Severity: SeverityError, Object: fi.object(),
			Message: fmt.Sprintf("Flagger %s has no externalmetrics provider (added in v1.43)", fi.version),
			Rollout: "canaries referencing externalmetrics templates fail their analysis",
			Fix:     "upgrade Flagger to v1.43 or later, or call the extmetrics gate from a webhook (docs/gate.md) with gate-annotated templates"})
	}
	// The CRD's enum.
	crd, present := r.inv.crds[TemplateCRD]
	switch {
	case !present:
	case crd == nil:
		if fi.found || len(r.inv.canaries) > 0 {
			r.add(Finding{ID: "flagger.crd-missing", Severity: SeverityError, Object: Object{Kind: "CustomResourceDefinition", Name: TemplateCRD},
				Message: "the MetricTemplate CRD is not installed", Rollout: "MetricTemplates cannot be created", Fix: "install Flagger's CRDs"})
		}
	default:
		if enum, ok := providerTypeEnum(crd); ok && !slices.Contains(enum, flagger.ProviderExternal) {
			r.add(Finding{ID: "flagger.crd-no-externalmetrics", Severity: SeverityError, Object: Object{Kind: "CustomResourceDefinition", Name: TemplateCRD},
				Message: fmt.Sprintf("the installed MetricTemplate CRD does not accept spec.provider.type externalmetrics (enum: %s): it predates Flagger v1.43", strings.Join(enum, ", ")),
				Rollout: "kubectl apply of an externalmetrics MetricTemplate is refused, so the canaries referencing it fail (template not found)",
				Fix:     "upgrade Flagger's CRDs (they are not upgraded by helm upgrade: kubectl apply -f the release's crd.yaml), or use the gate with the extmetrics.dev/provider-type annotation on a type the CRD accepts"})
		}
	}
}

// providerTypeEnum reads spec.provider.type's enum from every served
// version of the CRD (ok false: no enum, anything goes).
func providerTypeEnum(crd *unstructured.Unstructured) ([]string, bool) {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		vm, ok := v.(map[string]any)
		if !ok || vm["name"] != "v1beta1" {
			continue
		}
		enum, found, _ := unstructured.NestedSlice(vm, "schema", "openAPIV3Schema", "properties", "spec", "properties", "provider", "properties", "type", "enum")
		if !found {
			return nil, false
		}
		out := make([]string, 0, len(enum))
		for _, e := range enum {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}

// checkFlaggerTemplates: per template Flagger runs, the defects of its
// version and whether its service account may read the metrics.
func (r *run) checkFlaggerTemplates(ctx context.Context) {
	fi := r.flagger
	if fi == nil || r.tmpl == nil {
		return
	}
	var rbacTargets = map[[2]string][]string{} // namespace, metric -> templates
	for _, ti := range r.tmpl.sorted() {
		if !ti.flaggerRuns || len(ti.canaries) == 0 {
			continue
		}
		if fi.hasVersion && fi.version.HasPodDefects() {
			for _, note := range flagger.FlaggerPodCompat(ti.t, ti.secret) {
				pf, ok := podFindings[note.Code]
				if !ok {
					pf.id, pf.sev = "flagger.pod-defect", SeverityWarning
				}
				d := map[string]string{"canaries": listNames(ti.canaryNames()), "code": note.Code}
				if note.FlaggerError != "" {
					d["flaggerError"] = note.FlaggerError
				}
				r.add(Finding{ID: pf.id, Severity: pf.sev, Object: ti.object(),
					Message: fmt.Sprintf("Flagger %s: %s", fi.version, note.Text),
					Rollout: "Flagger's own provider runs this template as the message says, whatever analyze and the gate report",
					Fix:     "call the extmetrics gate from a Flagger webhook instead of the template's metrics entry (docs/gate.md: it honours the Secret's token, ca.crt and insecureSkipVerify and never sends its own token to a template's address)",
					Details: d})
			}
		}
		if ti.t.Spec.Provider.Address == "" {
			for qs := range ti.queries {
				if q, err := query.Parse(qs); err == nil {
					k := [2]string{q.Namespace, q.Metric}
					rbacTargets[k] = appendUnique(rbacTargets[k], ti.t.Key())
				}
			}
		}
	}
	if !fi.found || len(rbacTargets) == 0 {
		return
	}
	user := "system:serviceaccount:" + fi.namespace + ":" + fi.sa
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + fi.namespace, "system:authenticated"}
	keys := slices.SortedFunc(maps.Keys(rbacTargets), func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
	denied := make([]string, len(keys))
	var (
		failMu sync.Mutex
		failed error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.conc)
	for i, k := range keys {
		g.Go(func() error {
			sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
				User: user, Groups: groups,
				ResourceAttributes: &authzv1.ResourceAttributes{Namespace: k[0], Verb: "list", Group: ExternalGroup, Resource: k[1]},
			}}
			res, err := r.kube.AuthorizationV1().SubjectAccessReviews().Create(gctx, sar, metav1.CreateOptions{})
			if err != nil {
				failMu.Lock()
				failed = err
				failMu.Unlock()
				return nil
			}
			if !res.Status.Allowed {
				denied[i] = k[0] + "/" + k[1]
			}
			return nil
		})
	}
	_ = g.Wait()
	if failed != nil {
		r.cannotRead("SubjectAccessReview for "+user, Object{Kind: "ServiceAccount", Namespace: fi.namespace, Name: fi.sa}, failed)
		return
	}
	var names, tmpls []string
	for i, d := range denied {
		if d != "" {
			names = append(names, d)
			tmpls = append(tmpls, rbacTargets[keys[i]]...)
		}
	}
	if len(names) == 0 {
		return
	}
	slices.Sort(tmpls)
	r.add(Finding{ID: "flagger.rbac", Severity: SeverityError, Object: Object{Kind: "ServiceAccount", Namespace: fi.namespace, Name: fi.sa},
		Message: fmt.Sprintf("Flagger's service account %s may not list external metrics %s", user, listNames(names)),
		Rollout: "Flagger's queries through the aggregation layer are forbidden (403): every check of those templates fails and the canaries roll back",
		Fix:     fmt.Sprintf("bind %s to a ClusterRole allowing get and list on external.metrics.k8s.io (resources: [\"*\"])", user),
		Details: map[string]string{"templates": listNames(slices.Compact(tmpls))}})
}

// probeDummyMetric asks what Flagger's IsOnline asks (kube-system/dummy-metric)
// through each distinct provider Flagger uses: a server answering 404 makes
// Flagger record a false "not available" event when a canary initializes.
func (r *run) probeDummyMetric(ctx context.Context) {
	seen := map[string]bool{}
	for _, ti := range r.tmpl.sorted() {
		if !ti.flaggerRuns || ti.querier == nil || seen[ti.specKey] {
			continue
		}
		seen[ti.specKey] = true
		_, err := ti.querier.Query(ctx, "kube-system/dummy-metric")
		if provider.ErrorKind(err) != "not-found" {
			continue
		}
		where, obj := "the aggregation layer", apiObject
		if a := ti.t.Spec.Provider.Address; a != "" {
			where, obj = a, ti.object()
		}
		r.add(Finding{ID: "flagger.dummy-metric-event", Severity: SeverityInfo, Object: obj,
			Message: fmt.Sprintf("%s answers 404 for kube-system/dummy-metric, the metric Flagger's IsOnline probes", where),
			Rollout: "when a canary initializes Flagger records a false event \"externalmetrics in metric template ... not avaiable\"; the analysis runs anyway",
			Fix:     "nothing to fix: ignore that event"})
	}
}
