package standin

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReadyStatus(t *testing.T) {
	zero := int32(0)
	three := int32(3)
	for _, tc := range []struct {
		replicas *int32
		want     int32
	}{{nil, 1}, {&zero, 0}, {&three, 3}} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 7}, Spec: appsv1.DeploymentSpec{Replicas: tc.replicas}}
		s := ReadyStatus(d)
		if s.ObservedGeneration != 7 || s.Replicas != tc.want || s.UpdatedReplicas != tc.want || s.ReadyReplicas != tc.want || s.AvailableReplicas != tc.want {
			t.Fatalf("replicas %v: %+v", tc.replicas, s)
		}
		if len(s.Conditions) != 2 || s.Conditions[0].Type != appsv1.DeploymentAvailable || s.Conditions[1].Reason != "NewReplicaSetAvailable" {
			t.Fatalf("conditions %+v", s.Conditions)
		}
		// Written once: the same status again is equal (no update loop).
		d.Status = s
		if !statusEqual(d.Status, ReadyStatus(d)) {
			t.Fatal("ReadyStatus of a ready Deployment differs from its status")
		}
	}
}
