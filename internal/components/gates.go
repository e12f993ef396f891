//go:build !k8s1.34

package components

// prepareFeatureGates: since 1.35 nothing needs setting before the flags.
func prepareFeatureGates() error { return nil }
