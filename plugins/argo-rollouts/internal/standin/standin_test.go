package standin

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// The status is the ReplicaSet controller's once every pod is ready; the
// e2e package proves it against the real controller and kube-apiserver.
func TestAvailableStatus(t *testing.T) {
	three := int32(3)
	zero := int32(0)
	one := int32(1)
	for _, tc := range []struct {
		name     string
		replicas *int32
		want     int32
	}{{"three", &three, 3}, {"scaled to zero", &zero, 0}, {"unset means one", nil, 1}} {
		rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: tc.replicas}}
		rs.Generation = 4
		rs.Status = appsv1.ReplicaSetStatus{Replicas: 7, AvailableReplicas: 7, TerminatingReplicas: &one, Conditions: []appsv1.ReplicaSetCondition{{Type: "ReplicaFailure"}}}
		if Available(rs) {
			t.Fatalf("%s: available before", tc.name)
		}
		st := AvailableStatus(rs)
		if st.Replicas != tc.want || st.FullyLabeledReplicas != tc.want || st.ReadyReplicas != tc.want || st.AvailableReplicas != tc.want || st.ObservedGeneration != 4 {
			t.Errorf("%s: %+v", tc.name, st)
		}
		if st.TerminatingReplicas == nil || *st.TerminatingReplicas != 1 || len(st.Conditions) != 1 {
			t.Errorf("%s: other fields not kept: %+v", tc.name, st)
		}
		rs.Status = st
		if !Available(rs) {
			t.Errorf("%s: not available after", tc.name)
		}
		rs.Generation = 5
		if Available(rs) {
			t.Errorf("%s: available with an unobserved generation", tc.name)
		}
	}
}
