// Package standin stands in for the Deployment controller and the kubelet,
// which cannot run on these machines (no container runtime): it marks every
// Deployment rolled out and ready, and nothing else. It is the only fake in
// the real-controller tests.
//
// It writes exactly the status fields Flagger v1.44.0's readiness check
// reads (pkg/canary/deployment_ready.go, isDeploymentReady):
//
//   - status.observedGeneration = metadata.generation (Flagger waits while
//     it is lower: "observed deployment generation less than desired
//     generation");
//   - status.replicas = status.updatedReplicas = status.readyReplicas =
//     status.availableReplicas = spec.replicas (default 1; 0 when scaled to
//     zero): no old replicas pending, all updated replicas available;
//   - conditions Progressing=True (NewReplicaSetAvailable) and
//     Available=True (MinimumReplicasAvailable), so neither
//     ProgressDeadlineExceeded nor MinimumReplicasUnavailable is seen.
//
// No ReplicaSets or Pods are created: Flagger's Deployment path does not
// read them.
package standin
