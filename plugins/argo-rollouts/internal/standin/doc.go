// Package standin is the one fake in the real-Rollout tests: it stands in
// for kube-controller-manager's ReplicaSet controller and the kubelets,
// which cannot run on the machines these tests run on (no container
// runtime). It marks ReplicaSets available by writing their status as the
// ReplicaSet controller would once every pod is running and ready.
//
// What Argo Rollouts v1.10.1 reads, and therefore what the stand-in
// writes (status subresource, for ReplicaSets carrying
// rollouts-pod-template-hash):
//
//   - status.replicas, status.readyReplicas and status.availableReplicas:
//     Argo sums them over a Rollout's ReplicaSets into the Rollout's
//     status (rollout/sync.go calculateBaseStatus) and decides with
//     availableReplicas whether a canary step's ReplicaSet is up
//     (utils/replicaset IsReplicaSetAvailable, rollout/canary.go) and
//     whether an old ReplicaSet may be scaled down;
//   - status.observedGeneration: an old ReplicaSet is only cleaned up once
//     its generation is observed (rollout/sync.go cleanupRollouts);
//   - status.fullyLabeledReplicas: kept equal to replicas, as the real
//     controller does.
//
// Every count becomes spec.replicas at once: pods are never created. Argo
// only lists Pods for canaryMetadata/stableMetadata (ephemeral labels,
// rollout/ephemeralmetadata.go) and for spec.restartAt (rollout/restart.go);
// Rollouts in these tests use neither, so no Pod has to exist.
package standin
