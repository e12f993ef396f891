package versions

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BuiltIn is the Kubernetes release built into kplane's own executable
// (go.mod's k8s.io/kubernetes; a test checks the two agree). Every other
// minor runs from its own program beside kplane (ProgramName).
const BuiltIn = "1.37.2"

// BuiltInMinor is BuiltIn's minor, "1.37".
func BuiltInMinor() string { return minorOf(BuiltIn) }

func minorOf(patch string) string {
	parts := strings.SplitN(patch, ".", 3)
	if len(parts) < 2 {
		return patch
	}
	return parts[0] + "." + parts[1]
}

// ProgramName is the program that carries minor's components:
// kplane-k8s-1.36, built from k8s/v1.36 (make build puts it beside kplane).
func ProgramName(minor string) string { return "kplane-k8s-" + minor }

// Executable is the program that runs minor's control plane and nodes
// (`controlplane-run`, `node-run`): exe (kplane) itself for the built-in
// minor, else ProgramName(minor) in exe's directory. A missing program is an
// error that says how to get it.
func Executable(exe, minor string) (string, error) {
	if minor == "" || minor == BuiltInMinor() {
		return exe, nil
	}
	prog := filepath.Join(filepath.Dir(exe), ProgramName(minor))
	if fi, err := os.Stat(prog); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("the Kubernetes %s components are missing: %s is not an executable program (`make build` builds it beside kplane from the module k8s/v%s, where the source tree has one; see docs/versions.md)", minor, prog, minor)
	}
	return prog, nil
}

// Offered is the calendar narrowed to the minors whose components kplane
// has: the built-in one and each ProgramName beside exe. Each program is asked
// its Kubernetes release, which becomes the minor's kubernetesPatchVersion
// (it is what runs). missing says, per calendar minor left out, why.
func (c Calendar) Offered(ctx context.Context, exe string) (offered Calendar, missing []error) {
	offered.DefaultAfterDays = c.DefaultAfterDays
	for _, m := range c.Versions {
		prog, err := Executable(exe, m.Version)
		if err != nil {
			missing = append(missing, err)
			continue
		}
		if prog == exe {
			m.KubernetesPatchVersion = BuiltIn
		} else {
			patch, err := programRelease(ctx, prog)
			if err != nil {
				missing = append(missing, err)
				continue
			}
			if minorOf(patch) != m.Version {
				missing = append(missing, fmt.Errorf("%s carries Kubernetes %s, not %s", prog, patch, m.Version))
				continue
			}
			m.KubernetesPatchVersion = patch
		}
		offered.Versions = append(offered.Versions, m)
	}
	return offered, missing
}

// ReleaseCommand is the subcommand every component program answers with its
// Kubernetes release ("1.36.3").
const ReleaseCommand = "kubernetes-release"

func programRelease(ctx context.Context, prog string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, ReleaseCommand).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", prog, ReleaseCommand, err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), nil
}
