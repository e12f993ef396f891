//go:build k8s1.36 || k8s1.35 || k8s1.34

package components

import (
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	schedoptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// nameInformers: before 1.37 the apiserver has no informer names to set.
// This file is built for an older minor's program (k8s/v1.NN, -tags k8s1.NN).
func nameInformers(*apiserveroptions.CompletedOptions) error { return nil }

// nameSchedulerInformers: before 1.37 the scheduler has none either.
func nameSchedulerInformers(*schedoptions.Options) error { return nil }
