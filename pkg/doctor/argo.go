package doctor

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Argo Rollouts names.
const (
	// PluginName is the extmetrics metric plugin's name in Argo Rollouts.
	PluginName = "extmetrics/external-metrics"
	// ArgoConfigMap is Argo Rollouts' configuration.
	ArgoConfigMap = "argo-rollouts-config"
	gatePath      = "/argo/v1/value"
)

type argoPlugin struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	Sha256   string `json:"sha256"`
}

// checkArgo: AnalysisTemplates using the plugin need it configured in
// argo-rollouts-config; those calling the gate's web endpoint need its Service
// (and, with ProbeServices, a /readyz that answers).
func (r *run) checkArgo(ctx context.Context) {
	var pluginUsers []string
	gates := map[string][]string{} // namespace/service:port/scheme -> templates
	for _, u := range r.inv.argoTemplates {
		metrics, _, _ := unstructured.NestedSlice(u.Object, "spec", "metrics")
		key := objectOf(u).String()
		for _, m := range metrics {
			mm, ok := m.(map[string]any)
			if !ok {
				continue
			}
			prov, _ := mm["provider"].(map[string]any)
			if plugin, ok := prov["plugin"].(map[string]any); ok {
				if _, ok := plugin[PluginName]; ok {
					pluginUsers = appendUnique(pluginUsers, key)
				}
			}
			if web, ok := prov["web"].(map[string]any); ok {
				raw, _ := web["url"].(string)
				if target, ok := gateTarget(raw, u.GetNamespace()); ok {
					gates[target] = appendUnique(gates[target], key)
				}
			}
		}
	}
	if len(pluginUsers) > 0 {
		r.checkArgoPlugin(ctx, pluginUsers)
	}
	for target, users := range gates {
		r.checkGateService(ctx, target, users)
	}
}

// gateTarget reads "namespace/name/port/scheme" of the Service a web
// provider URL calls when it is the gate's Argo endpoint.
func gateTarget(raw, ns string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !strings.HasSuffix(u.Path, gatePath) || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return "", false
	}
	labels := strings.Split(u.Hostname(), ".")
	name := labels[0]
	if len(labels) > 1 {
		ns = labels[1]
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return ns + "/" + name + "/" + port + "/" + u.Scheme, true
}

func (r *run) argoNamespace() string {
	for i := range r.inv.deployments {
		d := &r.inv.deployments[i]
		for _, img := range images(d) {
			if strings.Contains(img, "argoproj/argo-rollouts") {
				return d.Namespace
			}
		}
	}
	return "argo-rollouts"
}

func (r *run) checkArgoPlugin(ctx context.Context, users []string) {
	ns := r.argoNamespace()
	o := Object{Kind: "ConfigMap", Namespace: ns, Name: ArgoConfigMap}
	det := map[string]string{"analysisTemplates": listNames(users)}
	missing := func(msg string) {
		r.add(Finding{ID: "argo.plugin-not-configured", Severity: SeverityError, Object: o, Message: msg,
			Rollout: "Argo Rollouts cannot load the plugin: every analysis using it errors and the Rollouts abort",
			Fix:     fmt.Sprintf("list the plugin under metricProviderPlugins in ConfigMap %s/%s (name %q, location, sha256) and restart the controller (docs/argo-rollouts.md)", ns, ArgoConfigMap, PluginName),
			Details: det})
	}
	cm, err := r.kube.CoreV1().ConfigMaps(ns).Get(ctx, ArgoConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		missing(fmt.Sprintf("AnalysisTemplates use the %s plugin, but ConfigMap %s/%s does not exist", PluginName, ns, ArgoConfigMap))
		return
	case err != nil:
		r.cannotRead("ConfigMap "+ns+"/"+ArgoConfigMap, o, err)
		return
	}
	var plugins []argoPlugin
	if err := yaml.Unmarshal([]byte(cm.Data["metricProviderPlugins"]), &plugins); err != nil {
		missing("metricProviderPlugins is not a YAML list of plugins: " + oneLine(err.Error()))
		return
	}
	var p *argoPlugin
	for i := range plugins {
		if plugins[i].Name == PluginName {
			p = &plugins[i]
		}
	}
	switch {
	case p == nil:
		missing(fmt.Sprintf("AnalysisTemplates use the %s plugin, but metricProviderPlugins does not list it", PluginName))
	case p.Location == "":
		missing(fmt.Sprintf("the %s plugin has no location", PluginName))
	case p.Sha256 == "":
		r.add(Finding{ID: "argo.plugin-no-sha256", Severity: SeverityWarning, Object: o,
			Message: fmt.Sprintf("the %s plugin (location %s) has no sha256", PluginName, p.Location),
			Rollout: "the controller runs whatever binary it finds at the location, unverified",
			Fix:     "add sha256: <sha256sum of the plugin binary> to its entry", Details: det})
	default:
		r.add(Finding{ID: "argo.plugin", Severity: SeverityInfo, Object: o,
			Message: fmt.Sprintf("the %s plugin is configured (location %s, sha256 set)", PluginName, p.Location), Details: det})
	}
}

func (r *run) checkGateService(ctx context.Context, target string, users []string) {
	parts := strings.Split(target, "/")
	ns, name, port, scheme := parts[0], parts[1], parts[2], parts[3]
	o := Object{Kind: "Service", Namespace: ns, Name: name}
	det := map[string]string{"analysisTemplates": listNames(users)}
	svc, err := r.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		r.add(Finding{ID: "argo.gate-missing", Severity: SeverityError, Object: o,
			Message: fmt.Sprintf("AnalysisTemplates call the gate at Service %s/%s, which does not exist", ns, name),
			Rollout: "every measurement errors (connection refused or DNS failure): the Rollouts abort after consecutiveErrorLimit",
			Fix:     "deploy the gate (kubectl apply -k deploy/, docs/gate.md) or correct the web provider's url", Details: det})
		return
	case err != nil:
		r.cannotRead("Service "+ns+"/"+name, o, err)
		return
	}
	if !r.opts.ProbeServices {
		r.add(Finding{ID: "argo.gate", Severity: SeverityInfo, Object: o,
			Message: fmt.Sprintf("the gate's Service %s/%s exists (its /readyz was not probed: give --probe-services)", ns, name), Details: det})
		return
	}
	n, _ := strconv.Atoi(port)
	for _, p := range svc.Spec.Ports {
		if int(p.Port) == n && p.Name != "" {
			port = p.Name
		}
	}
	svcRef := name + ":" + port
	if scheme == "https" {
		svcRef = "https:" + svcRef
	}
	body, err := r.kube.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces", ns, "services", svcRef, "proxy", "readyz").DoRaw(ctx)
	if err != nil {
		r.add(Finding{ID: "argo.gate-not-ready", Severity: SeverityError, Object: o,
			Message: fmt.Sprintf("GET /readyz through the API server's service proxy failed: %s", oneLine(err.Error())),
			Rollout: "measurements error while the gate is not ready: the Rollouts abort after consecutiveErrorLimit",
			Fix:     "kubectl -n " + ns + " logs deploy/" + name + " (the first line says which cluster and providers it uses)", Details: det})
		return
	}
	if len(body) > 200 {
		body = append(body[:200:200], "..."...)
	}
	det["readyz"] = oneLine(string(body))
	r.add(Finding{ID: "argo.gate", Severity: SeverityInfo, Object: o,
		Message: fmt.Sprintf("the gate's Service %s/%s answers /readyz", ns, name), Details: det})
}
