package server

import (
	"time"

	"github.com/kplane/kplane/internal/eks"
	"github.com/kplane/kplane/internal/ssm"
)

// KubernetesVersion is the release of k8s.io/kubernetes built into kplane
// (go.mod); a test in internal/components checks the two agree.
const KubernetesVersion = "1.37.2"

// Versions are the Kubernetes versions clusters can run, newest first.
var Versions = []eks.Version{
	{Minor: "1.37", Patch: KubernetesVersion, PlatformVersion: "eks.1", ReleaseDate: time.Date(2026, 8, 26, 0, 0, 0, 0, time.UTC)},
}

// ssmVersions are Versions as the SSM parameters of node images name them.
func ssmVersions() []ssm.Version {
	out := make([]ssm.Version, 0, len(Versions))
	for _, v := range Versions {
		out = append(out, ssm.Version{Minor: v.Minor, Patch: v.Patch, ReleaseDate: v.ReleaseDate})
	}
	return out
}
