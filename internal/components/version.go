package components

import (
	"runtime/debug"
	"strings"
	_ "unsafe" // go:linkname

	"k8s.io/component-base/version"
)

// Without -ldflags -X k8s.io/component-base/version.gitVersion=..., the
// components report "v0.0.0-master+$Format:%H$" (e.g. in /version and
// `kubectl version`). Instead of requiring ldflags in every build, fill the
// version in from the k8s.io/kubernetes module version in the build info.

//go:linkname gitVersion k8s.io/component-base/version.gitVersion
var gitVersion string

//go:linkname gitMajor k8s.io/component-base/version.gitMajor
var gitMajor string

//go:linkname gitMinor k8s.io/component-base/version.gitMinor
var gitMinor string

//go:linkname gitTreeState k8s.io/component-base/version.gitTreeState
var gitTreeState string

func init() {
	if !strings.HasPrefix(gitVersion, "v0.0.0-master") {
		return // set by ldflags
	}
	if v := kubernetesModuleVersion(); v != "" {
		setVersion(v)
	}
}

// KubernetesVersion is the version of the embedded components, e.g. v1.37.2.
func KubernetesVersion() string { return version.Get().GitVersion }

func kubernetesModuleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == "k8s.io/kubernetes" {
			if d.Replace != nil && strings.HasPrefix(d.Replace.Version, "v1.") {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

func setVersion(v string) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return
	}
	gitVersion, gitMajor, gitMinor, gitTreeState = v, parts[0], parts[1], "clean"
	_ = version.SetDynamicVersion(v)
}
