package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kplane/kplane/internal/node"
)

// podStart is one Deployment's pods' times to Running.
type podStart struct {
	Times  []time.Duration // each pod's, from the Deployment's create, sorted
	ByNode map[string]int  // pods per node
	// OnNode: each pod's time from the first sight of it bound to a node to
	// Running (the node's share), sorted.
	OnNode []time.Duration
}

// deploymentPodStart creates a Deployment of replicas pods of kplane's own
// sandbox image (in every node already: no pull, no image build) on the
// nodes named, and times each pod from the create to the first time it is
// seen Running with its container started, through a watch. Then it
// deletes the Deployment and waits for its pods to go.
func deploymentPodStart(ctx context.Context, bc *benchCluster, name string, replicas int, nodes []string) (podStart, error) {
	pods := bc.kube.CoreV1().Pods("default")
	sel := "app=" + name
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return podStart{}, err
	}
	defer w.Stop()
	n := int32(replicas)
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
							MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: nodes}},
						}}},
					}},
					TerminationGracePeriodSeconds: new(int64),
					Containers:                    []corev1.Container{{Name: "c", Image: node.SandboxImage, ImagePullPolicy: corev1.PullNever}},
				},
			},
		},
	}
	start := time.Now()
	if _, err := bc.kube.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return podStart{}, err
	}
	res := podStart{ByNode: map[string]int{}}
	seen := map[string]bool{}
	bound := map[string]time.Time{}
	timeout := time.After(5 * time.Minute)
	for len(seen) < replicas {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return res, fmt.Errorf("pod watch closed with %d of %d Running", len(seen), replicas)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || seen[p.Name] {
				continue
			}
			if _, ok := bound[p.Name]; !ok && p.Spec.NodeName != "" {
				bound[p.Name] = time.Now()
			}
			if !running(p) {
				continue
			}
			seen[p.Name] = true
			res.Times = append(res.Times, time.Since(start))
			res.OnNode = append(res.OnNode, time.Since(bound[p.Name]))
			res.ByNode[p.Spec.NodeName]++
		case <-timeout:
			return res, fmt.Errorf("%d of %d pods Running after 5 min", len(seen), replicas)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	for _, d := range [][]time.Duration{res.Times, res.OnNode} {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	}
	return res, deleteDeployment(ctx, bc, name)
}

func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running == nil {
			return false
		}
	}
	return true
}

func deleteDeployment(ctx context.Context, bc *benchCluster, name string) error {
	fg := metav1.DeletePropagationForeground
	if err := bc.kube.AppsV1().Deployments("default").Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		return err
	}
	for deadline := time.Now().Add(3 * time.Minute); ; {
		list, err := bc.kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err == nil && len(list.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods of %s still there after 3 min", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// percentile is the nearest-rank p-th percentile of sorted d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p/100*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}
