package standin

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// StandIn is a running stand-in.
type StandIn struct {
	client kubernetes.Interface
	queue  workqueue.TypedRateLimitingInterface[string]
	lister func(ns, name string) (*appsv1.Deployment, error)

	mu      sync.Mutex
	updates int
	errs    []error
}

// Start watches Deployments in every namespace with cfg's identity and
// marks them ready until ctx ends.
func Start(ctx context.Context, cfg *rest.Config) (*StandIn, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Apps().V1().Deployments()
	s := &StandIn{
		client: client,
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		lister: func(ns, name string) (*appsv1.Deployment, error) { return inf.Lister().Deployments(ns).Get(name) },
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return nil, fmt.Errorf("standin: Deployment informer did not sync")
	}
	go func() { <-ctx.Done(); s.queue.ShutDown() }()
	for range 2 {
		go s.work(ctx)
	}
	return s, nil
}

// Updates is how many status updates were written.
func (s *StandIn) Updates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// Errors are the update errors other than conflicts (retried).
func (s *StandIn) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

func (s *StandIn) work(ctx context.Context) {
	for {
		key, quit := s.queue.Get()
		if quit {
			return
		}
		err := s.sync(ctx, key)
		if err != nil && ctx.Err() == nil {
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				s.mu.Lock()
				s.errs = append(s.errs, fmt.Errorf("%s: %w", key, err))
				s.mu.Unlock()
			}
			s.queue.AddRateLimited(key)
		} else {
			s.queue.Forget(key)
		}
		s.queue.Done(key)
	}
}

func (s *StandIn) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	d, err := s.lister(ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := ReadyStatus(d)
	if statusEqual(d.Status, want) {
		return nil
	}
	d = d.DeepCopy()
	d.Status = want
	if _, err := s.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{FieldManager: "extmetrics-standin"}); err != nil {
		return err
	}
	s.mu.Lock()
	s.updates++
	s.mu.Unlock()
	return nil
}

// ReadyStatus is the status of d rolled out with every replica ready.
func ReadyStatus(d *appsv1.Deployment) appsv1.DeploymentStatus {
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	now := metav1.NewTime(time.Now())
	cond := func(t appsv1.DeploymentConditionType, reason string) appsv1.DeploymentCondition {
		for _, c := range d.Status.Conditions {
			if c.Type == t && c.Status == corev1.ConditionTrue && c.Reason == reason {
				return c // keep its times: no change, no update
			}
		}
		return appsv1.DeploymentCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason,
			Message: "marked ready by the extmetrics test stand-in", LastUpdateTime: now, LastTransitionTime: now}
	}
	return appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           replicas,
		UpdatedReplicas:    replicas,
		ReadyReplicas:      replicas,
		AvailableReplicas:  replicas,
		Conditions: []appsv1.DeploymentCondition{
			cond(appsv1.DeploymentAvailable, "MinimumReplicasAvailable"),
			cond(appsv1.DeploymentProgressing, "NewReplicaSetAvailable"),
		},
	}
}

func statusEqual(a, b appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason {
			return false
		}
	}
	return true
}
