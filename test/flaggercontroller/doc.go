// Package flaggercontroller runs whole canaries through the real Flagger
// controller (v1.44.0's cmd/flagger, built from the module proxy and cached
// outside the repository by internal/flaggerctl) against the e2e harness's
// real kube-apiserver and etcd, with Flagger's CRDs, -mesh-provider=kubernetes
// (blue/green with analysis.iterations) and a short control loop. A
// stand-in (internal/standin) marks Deployments rolled out and ready, the
// only fake: no kubelet can run here. See docs/testing-real-controllers.md.
//
// It is a module of its own so that these minutes-long tests have their
// own go test timeout and so that the build of Flagger (go install
// cmd/flagger@v1.44.0, with Flagger's own go.mod) stays out of the main
// module. Run it with: cd test/flaggercontroller && go test -race ./...
package flaggercontroller
