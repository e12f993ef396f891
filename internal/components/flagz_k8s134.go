//go:build k8s1.34

package components

import (
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/zpages/flagz"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// setFlagz: before 1.35 the flagz reader lived in component-base.
// This file is built for the 1.34 program (k8s/v1.34, -tags k8s1.34).
func setFlagz(s *apiserveroptions.ServerRunOptions, nfs cliflag.NamedFlagSets) {
	s.Flagz = flagz.NamedFlagSetsReader{FlagSets: nfs}
}
