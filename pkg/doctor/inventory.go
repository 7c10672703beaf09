package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Resources doctor reads.
var (
	apiServiceGVR     = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	crdGVR            = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	canaryGVR         = schema.GroupVersionResource{Group: flagger.Group, Version: "v1beta1", Resource: "canaries"}
	templateGVR       = schema.GroupVersionResource{Group: flagger.Group, Version: "v1beta1", Resource: "metrictemplates"}
	analysisTmplGVR   = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysistemplates"}
	clusterAnalysisTG = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "clusteranalysistemplates"}
)

// Names of the CRDs doctor looks at.
const (
	TemplateCRD      = "metrictemplates.flagger.app"
	DatadogMetricCRD = "datadogmetrics.datadoghq.com"
	AnalysisTmplCRD  = "analysistemplates.argoproj.io"
	ExternalGroup    = "external.metrics.k8s.io"
	// APIServiceName is the APIService that serves the External Metrics API.
	APIServiceName = "v1beta1." + ExternalGroup
)

// inventory is what doctor read once, before checking.
type inventory struct {
	apiServices []unstructured.Unstructured // those of external.metrics.k8s.io
	deployments []appsv1.Deployment         // every namespace (nil when not readable)
	deployErr   error
	crds        map[string]*unstructured.Unstructured // by name, nil value: absent

	canaries      []*unstructured.Unstructured
	templates     []*unstructured.Unstructured
	secrets       []*unstructured.Unstructured // from Files only
	argoTemplates []*unstructured.Unstructured
	fromFiles     bool
}

func (r *run) ns() string { return r.opts.Namespace }

func (r *run) readInventory(ctx context.Context) (*inventory, error) {
	inv := &inventory{crds: map[string]*unstructured.Unstructured{}}
	list, err := r.dyn.Resource(apiServiceGVR).List(ctx, metav1.ListOptions{})
	switch {
	case err != nil && (apierrors.IsUnauthorized(err)):
		return nil, fmt.Errorf("the cluster refuses the credentials: %v", err)
	case err != nil:
		r.cannotRead("APIServices", Object{Kind: "APIService", Name: APIServiceName}, err)
	default:
		for _, a := range list.Items {
			if g, _, _ := unstructured.NestedString(a.Object, "spec", "group"); g == ExternalGroup {
				inv.apiServices = append(inv.apiServices, a)
			}
		}
	}
	deps, err := r.kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		inv.deployErr = err
		r.cannotRead("Deployments (to find Flagger, Argo Rollouts and External Metrics servers)", Object{Kind: "Deployment", Name: "*"}, err)
	} else {
		inv.deployments = deps.Items
	}
	for _, name := range []string{TemplateCRD, DatadogMetricCRD, AnalysisTmplCRD} {
		crd, err := r.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			inv.crds[name] = nil
		case err != nil:
			r.cannotRead("CustomResourceDefinition "+name, Object{Kind: "CustomResourceDefinition", Name: name}, err)
		default:
			inv.crds[name] = crd
		}
	}

	if len(r.opts.Files) > 0 {
		inv.fromFiles = true
		objs, err := readFiles(r.opts.Files)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			switch gk := o.GroupVersionKind().GroupKind(); {
			case gk.Group == flagger.Group && gk.Kind == flagger.KindCanary:
				inv.canaries = append(inv.canaries, o)
			case gk.Group == flagger.Group && gk.Kind == flagger.KindMetricTemplate:
				inv.templates = append(inv.templates, o)
			case gk.Group == "" && gk.Kind == "Secret":
				inv.secrets = append(inv.secrets, o)
			case gk.Group == "argoproj.io" && (gk.Kind == "AnalysisTemplate" || gk.Kind == "ClusterAnalysisTemplate"):
				inv.argoTemplates = append(inv.argoTemplates, o)
			}
		}
		return inv, nil
	}
	if inv.crds[TemplateCRD] != nil {
		inv.templates = r.listAll(ctx, templateGVR, "MetricTemplate", true)
		inv.canaries = r.listAll(ctx, canaryGVR, "Canary", true)
	}
	if inv.crds[AnalysisTmplCRD] != nil {
		inv.argoTemplates = r.listAll(ctx, analysisTmplGVR, "AnalysisTemplate", true)
		inv.argoTemplates = append(inv.argoTemplates, r.listAll(ctx, clusterAnalysisTG, "ClusterAnalysisTemplate", false)...)
	}
	return inv, nil
}

// listAll lists a resource in the namespace (or all), as unstructured objects.
func (r *run) listAll(ctx context.Context, gvr schema.GroupVersionResource, kind string, namespaced bool) []*unstructured.Unstructured {
	var (
		list *unstructured.UnstructuredList
		err  error
	)
	if namespaced {
		list, err = r.dyn.Resource(gvr).Namespace(r.ns()).List(ctx, metav1.ListOptions{})
	} else {
		list, err = r.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	}
	if err != nil {
		if !apierrors.IsNotFound(err) {
			r.cannotRead(gvr.Resource, Object{Kind: kind, Namespace: r.ns(), Name: "*"}, err)
		}
		return nil
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out
}

// readFiles reads every Kubernetes object of the files (directories: their
// *.yaml, *.yml and *.json files), Lists unpacked.
func readFiles(paths []string) ([]*unstructured.Unstructured, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if len(data) > flagger.MaxFileSize {
			return nil, fmt.Errorf("%s: larger than %d bytes", f, flagger.MaxFileSize)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for doc := 1; ; doc++ {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: document %d: %v", f, doc, err)
			}
			if m == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if u.IsList() {
				l, err := u.ToList()
				if err != nil {
					return nil, fmt.Errorf("%s: document %d: %v", f, doc, err)
				}
				for i := range l.Items {
					out = append(out, &l.Items[i])
				}
				continue
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// deploymentsMatching returns the Deployments of namespace ns whose pod
// template labels match selector (a Service's).
func (inv *inventory) deploymentsMatching(ns string, selector map[string]string) []appsv1.Deployment {
	if len(selector) == 0 {
		return nil
	}
	var out []appsv1.Deployment
	for i := range inv.deployments {
		d := &inv.deployments[i]
		if d.Namespace != ns {
			continue
		}
		ok := true
		for k, v := range selector {
			if d.Spec.Template.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, *d)
		}
	}
	return out
}

// images lists a Deployment's container images.
func images(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range slices.Concat(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers) {
		out = append(out, c.Image)
	}
	return out
}
