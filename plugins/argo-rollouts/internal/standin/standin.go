package standin

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// RolloutLabel is the label Argo Rollouts puts on every ReplicaSet it
// owns (v1alpha1.DefaultRolloutUniqueLabelKey); only those are marked.
const RolloutLabel = "rollouts-pod-template-hash"

// AvailableStatus is the status the ReplicaSet controller would write for
// rs once all of its pods are running and ready: every count equals
// spec.replicas (1 when unset) and the generation is observed. Other
// fields (conditions, terminatingReplicas) are kept.
func AvailableStatus(rs *appsv1.ReplicaSet) appsv1.ReplicaSetStatus {
	n := int32(1)
	if rs.Spec.Replicas != nil {
		n = *rs.Spec.Replicas
	}
	st := *rs.Status.DeepCopy()
	st.Replicas = n
	st.FullyLabeledReplicas = n
	st.ReadyReplicas = n
	st.AvailableReplicas = n
	st.ObservedGeneration = rs.Generation
	return st
}

// Available reports whether rs's status already is AvailableStatus(rs).
func Available(rs *appsv1.ReplicaSet) bool {
	want := AvailableStatus(rs)
	st := rs.Status
	return st.Replicas == want.Replicas && st.FullyLabeledReplicas == want.FullyLabeledReplicas &&
		st.ReadyReplicas == want.ReadyReplicas && st.AvailableReplicas == want.AvailableReplicas &&
		st.ObservedGeneration == want.ObservedGeneration
}

// ReplicaSets is a running stand-in; Stop ends it.
type ReplicaSets struct {
	cancel  context.CancelFunc
	done    sync.WaitGroup
	updates atomic.Int64
}

// Start watches ReplicaSets labelled RolloutLabel in every namespace and
// writes AvailableStatus to each that is not yet available, whenever it is
// created or its spec changes. It returns once the informer has synced.
// logf (may be nil) gets one line per status written.
func Start(ctx context.Context, cs kubernetes.Interface, logf func(format string, args ...any)) (*ReplicaSets, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &ReplicaSets{cancel: cancel}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = RolloutLabel
	}))
	inf := factory.Apps().V1().ReplicaSets()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, time.Second))
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		cancel()
		return nil, err
	}
	lister := inf.Lister()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			queue.ShutDown()
			factory.Shutdown()
			return nil, fmt.Errorf("standin: %v informer did not sync", typ)
		}
	}
	syncOne := func(key string) error {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return nil
		}
		rs, err := lister.ReplicaSets(ns).Get(name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil || Available(rs) {
			return err
		}
		rs = rs.DeepCopy()
		rs.Status = AvailableStatus(rs)
		if _, err := cs.AppsV1().ReplicaSets(ns).UpdateStatus(ctx, rs, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err // a conflict: the informer brings the new version; retried
		}
		s.updates.Add(1)
		logf("standin: ReplicaSet %s: %d/%d replicas available (generation %d)", key, rs.Status.AvailableReplicas, rs.Status.Replicas, rs.Generation)
		return nil
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		for {
			key, quit := queue.Get()
			if quit {
				return
			}
			if err := syncOne(key); err != nil && ctx.Err() == nil {
				queue.AddRateLimited(key)
			} else {
				queue.Forget(key)
			}
			queue.Done(key)
		}
	}()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		<-ctx.Done()
		queue.ShutDown()
		factory.Shutdown()
	}()
	return s, nil
}

// Updates is how many statuses the stand-in has written.
func (s *ReplicaSets) Updates() int64 { return s.updates.Load() }

// Stop ends the stand-in and waits for it.
func (s *ReplicaSets) Stop() {
	s.cancel()
	s.done.Wait()
}
