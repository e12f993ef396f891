//go:build k8s1.34

package components

import (
	"k8s.io/apimachinery/pkg/util/version"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	clientgofeatures "k8s.io/client-go/features"
	"k8s.io/component-base/featuregate"
)

// prepareFeatureGates turns on client-go's WatchListClient before any
// component adds the gates to its flags. kube-controller-manager 1.34 turns
// it on in its Flags(), which panics once the apiserver's flags (parsed
// first, in the same process) hold the gates; 1.35 has it on by default.
// This file is built for the 1.34 program (k8s/v1.34, -tags k8s1.34).
func prepareFeatureGates() error {
	gate := featuregate.Feature(clientgofeatures.WatchListClient)
	if utilfeature.DefaultFeatureGate.Enabled(gate) {
		return nil
	}
	return utilfeature.DefaultMutableFeatureGate.OverrideDefaultAtVersion(gate, true, version.MustParse("1.34"))
}
