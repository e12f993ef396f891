package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RequiredPackages maps each program the node runs from the host to the
// Debian package that installs it.
var RequiredPackages = map[string]string{
	"containerd":              "containerd",
	"ctr":                     "containerd",
	"runc":                    "runc",
	CNIBinDir + "/bridge":     "containernetworking-plugins",
	CNIBinDir + "/host-local": "containernetworking-plugins",
	CNIBinDir + "/loopback":   "containernetworking-plugins",
	CNIBinDir + "/portmap":    "containernetworking-plugins",
}

// MissingPackageError says which host package a node needs.
type MissingPackageError struct {
	Program, Package string
}

func (e *MissingPackageError) Error() string {
	return fmt.Sprintf("%s not found: install the Debian package %s (apt-get install -y %s)", e.Program, e.Package, e.Package)
}

// Check reports what keeps spec's node from starting on this host: a
// missing program (a *MissingPackageError naming the package), or a DIR the
// node cannot use.
func Check(spec Spec, p Paths) error {
	var errs []error
	progs := map[string]string{}
	for k, v := range RequiredPackages {
		progs[k] = v
	}
	switch spec.ProxyMode {
	case "iptables":
		progs["iptables"] = "iptables"
	case "nftables":
		progs["nft"] = "nftables"
	}
	for prog, pkg := range progs {
		if strings.HasPrefix(prog, "/") {
			if _, err := os.Stat(prog); err != nil {
				errs = append(errs, &MissingPackageError{Program: prog, Package: pkg})
			}
		} else if _, err := exec.LookPath(prog); err != nil {
			errs = append(errs, &MissingPackageError{Program: prog, Package: pkg})
		}
	}
	// These are bound over in the node's mount namespace.
	for _, shadowed := range []string{"/var/lib", "/var/log", "/run"} {
		if p.Dir == shadowed || strings.HasPrefix(p.Dir, shadowed+"/") {
			errs = append(errs, fmt.Errorf("node directory %s may not be under %s", p.Dir, shadowed))
		}
	}
	if len(p.Socket()) > 100 {
		errs = append(errs, fmt.Errorf("node directory %s is too long for a unix socket path (%d bytes)", p.Dir, len(p.Socket())))
	}
	return errors.Join(errs...)
}

// Teardown removes what a node left after its agent exited (killed,
// crashed): every process in its cgroups, then the cgroups. Safe to call
// again, and for a node that never ran.
func Teardown(dir string) error {
	p := Paths{Dir: dir}
	st := readCgroupState(p)
	if st.Root != "" {
		if err := killCgroups(st.Root, TeardownTimeout); err != nil {
			return err
		}
	}
	return removeCgroups(p)
}

// Delete tears the node down and removes its directory.
func Delete(dir string) error {
	if err := Teardown(dir); err != nil {
		return err
	}
	// Mounts of the node lived in its own mount namespace, gone with its
	// last process; nothing under dir is mounted on the host.
	var err error
	for i := 0; i < 20; i++ {
		if err = os.RemoveAll(filepath.Clean(dir)); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}
