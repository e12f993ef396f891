package components

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"

	"github.com/kplane/kplane/internal/controlplane"
)

// notRunByControllerManager are subjects of RBAC's bootstrap controller
// bindings whose controllers kube-controller-manager does not run with
// kplane's flags: cloud-controller-manager's route and service controllers,
// and selinux-warning-controller (off by default).
var notRunByControllerManager = []string{"route-controller", "service-controller", "selinux-warning-controller"}

// ControllerAccounts are the ServiceAccounts that kube-controller-manager
// (--use-service-account-credentials) makes in kube-system for its
// controllers: the subjects of the bootstrap policy's controller bindings.
func ControllerAccounts() []string {
	var names []string
	for _, b := range bootstrappolicy.ControllerRoleBindings() {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Namespace == metav1.NamespaceSystem &&
				!slices.Contains(notRunByControllerManager, s.Name) && !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// accountWorkers bounds the concurrent creates.
const accountWorkers = 8

// makeControllerAccounts creates ControllerAccounts in kube-system as soon as
// the apiserver has made that namespace, before kube-controller-manager runs.
//
// Why: kube-controller-manager builds its ~40 controllers one after another
// and, for each, GETs its ServiceAccount, GETs the namespace and creates the
// account, ~0.5 s in all, between the apiserver's /healthz and the default
// ServiceAccount that makes a cluster ACTIVE. Until /healthz the apiserver
// mostly waits (its RBAC and priority-class hooks start after a fixed
// second), so the accounts are made then, in parallel, and the
// controller-manager finds each with one GET. They are exactly the objects
// it would create (name and namespace, nothing else). Best effort: whatever
// is missing, the controller-manager still creates.
func makeControllerAccounts(ctx context.Context, spec controlplane.ProcessSpec) error {
	cfg := &rest.Config{
		Host: strings.TrimSuffix(spec.ReadyzURL, "/readyz"),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: spec.CAFile, CertFile: spec.AdminCertFile, KeyFile: spec.AdminKeyFile,
		},
		QPS: -1, // no client-side rate limit: these are a few dozen requests
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	accounts := client.CoreV1().ServiceAccounts(metav1.NamespaceSystem)
	// The namespace exists once listing in it works; a restarted or second
	// replica finds the accounts there and creates nothing.
	var existing *corev1.ServiceAccountList
	err = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if _, err := client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{}); err != nil {
			return false, nil
		}
		var err error
		existing, err = accounts.List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		return err
	}
	var missing []string
	for _, n := range ControllerAccounts() {
		if !slices.ContainsFunc(existing.Items, func(sa corev1.ServiceAccount) bool { return sa.Name == n }) {
			missing = append(missing, n)
		}
	}
	names := make(chan string)
	errs := make([]error, accountWorkers)
	var wg sync.WaitGroup
	for w := range accountWorkers {
		wg.Go(func() {
			for name := range names {
				sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem}}
				// The field manager the controller-manager's own create would record.
				_, err := accounts.Create(ctx, sa, metav1.CreateOptions{FieldManager: ControllerManager})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					errs[w] = errors.Join(errs[w], err)
				}
			}
		})
	}
	for _, n := range missing {
		names <- n
	}
	close(names)
	wg.Wait()
	return errors.Join(errs...)
}

// startControllerAccounts runs makeControllerAccounts in the background and
// logs how it went (its failures only slow a start down).
func startControllerAccounts(ctx context.Context, spec controlplane.ProcessSpec) {
	if spec.AdminCertFile == "" || len(spec.ControllerManagerArgs) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
		defer cancel()
		start := time.Now()
		if err := makeControllerAccounts(ctx, spec); err != nil {
			klog.InfoS("kplane: controller-manager service accounts not all made ahead", "err", err)
			return
		}
		klog.InfoS("kplane: made controller-manager service accounts", "took", time.Since(start))
	}()
}
