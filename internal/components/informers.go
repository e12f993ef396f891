//go:build !k8s1.36 && !k8s1.35 && !k8s1.34

package components

import (
	"k8s.io/client-go/tools/cache"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	schedoptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// nameInformers names the apiserver's informers, as upstream's Run does
// since 1.37 (older minors have no such option: informers_old.go).
func nameInformers(opts *apiserveroptions.CompletedOptions) error {
	if opts.InformerName != nil {
		return nil
	}
	name, err := cache.NewInformerName(APIServer)
	if err != nil {
		return err
	}
	opts.InformerName = name
	return nil
}

// nameSchedulerInformers names the scheduler's informers, as upstream's
// runCommand does since 1.37.
func nameSchedulerInformers(opts *schedoptions.Options) error {
	if opts.InformerName != nil {
		return nil
	}
	name, err := cache.NewInformerName(Scheduler)
	if err != nil {
		return err
	}
	opts.InformerName = name
	return nil
}
