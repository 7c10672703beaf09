package flagger

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// DecodeUnstructured decodes one object read from a cluster (a dynamic
// client's or an informer's unstructured object) with this package's
// decoder, named "Kind namespace/name" in its errors. A Canary is decoded
// from what analysis reads only (status and metadata other than name and
// namespace are dropped, so a status the decoder does not know cannot fail
// it) and keeps the object's UID, by which Events name it.
func DecodeUnstructured(u *unstructured.Unstructured) (*Set, error) {
	obj := u
	if u.GetKind() == KindCanary {
		obj = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
			"metadata": map[string]any{"name": u.GetName(), "namespace": u.GetNamespace()},
			"spec":     u.Object["spec"],
		}}
	}
	b, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	set := NewSet(Options{})
	set.Parse(u.GetKind()+" "+u.GetNamespace()+"/"+u.GetName(), b)
	if err := set.Err(); err != nil {
		return set, err
	}
	for _, c := range set.Canaries {
		c.UID = string(u.GetUID())
	}
	return set, nil
}
