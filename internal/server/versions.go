package server

import (
	"time"

	"github.com/kplane/kplane/internal/eks"
)

// KubernetesVersion is the release of k8s.io/kubernetes built into kplane
// (go.mod); a test in internal/components checks the two agree.
const KubernetesVersion = "1.37.2"

// Versions are the Kubernetes versions clusters can run, newest first.
var Versions = []eks.Version{
	{Minor: "1.37", Patch: KubernetesVersion, PlatformVersion: "eks.1", ReleaseDate: time.Date(2026, 8, 26, 0, 0, 0, 0, time.UTC)},
}
