//go:build !k8s1.34

package components

import (
	"k8s.io/apiserver/pkg/server/flagz"
	cliflag "k8s.io/component-base/cli/flag"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// setFlagz lets the apiserver's /flagz page show the flags it was given.
func setFlagz(s *apiserveroptions.ServerRunOptions, nfs cliflag.NamedFlagSets) {
	s.Flagz = flagz.NamedFlagSetsReader{FlagSets: nfs}
}
