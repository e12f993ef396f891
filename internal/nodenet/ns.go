package nodenet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Network namespaces live as long as a process is in them or a bind mount
// of /proc/TID/ns/net holds them. kplane holds each of its namespaces with
// a bind mount on a file of its own directory, so they outlive a kplane
// restart (nodes keep running) and are found again by name.

// InNamespace runs fn on an OS thread that has entered the network
// namespace bound at path, then brings the thread back to its namespace
// before any other goroutine may run on it; if that fails, the thread stays
// locked to the ended goroutine, and the runtime ends it. The caller's own
// thread never changes namespace. Sockets fn creates stay in that namespace
// for their whole life, whichever thread uses them later.
func InNamespace(path string, fn func() error) error {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer unix.Close(target)
	return onThread(func() error {
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", path, err)
		}
		return fn()
	})
}

// onThread runs fn, which may change its thread's network namespace, on a
// locked thread of its own, and restores the namespace afterwards. (A
// goroutine that ends locked may sit on the main thread, which the runtime
// never ends but parks for good, still in the namespace, which would keep
// the namespace alive: so the namespace is always restored.)
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: the thread stays locked and goes with this goroutine
		errc <- err
	}()
	return <-errc
}

// createNamespace makes a new, empty network namespace (only a loopback,
// down, and no route) and binds it at path. An existing namespace at path is
// kept: creation is idempotent.
func createNamespace(path string) (created bool, err error) {
	if isNamespace(path) {
		return false, nil
	}
	// A file left by a namespace that is gone (a reboot: /run may be on disk)
	// is replaced.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return false, err
	}
	f.Close()
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare network namespace: %w", err)
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind network namespace at %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return false, err
	}
	return true, nil
}

// removeNamespace unbinds the namespace at path and removes the file. Once
// no process is in it, the kernel frees it with every interface it holds.
func removeNamespace(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// isNamespace reports whether path is a bound network namespace (nsfs),
// not a plain file left behind.
func isNamespace(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// writeSysctl writes a /proc/sys/net entry of the namespace at path. The
// net sysctls are resolved against the writing thread's namespace, so this
// never touches the host's.
func writeSysctl(path, key, value string) error {
	return InNamespace(path, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
}

// ensureSharedDir makes dir a mount point of its own with shared
// propagation (as iproute2 does for /run/netns): a process that later makes
// a mount namespace of its own as a slave receives the unmounts of
// namespaces removed afterwards, and one that makes it private can detach
// the whole directory with one unmount. Undone by releaseDir.
func ensureSharedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !isMountPoint(dir) {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	return nil
}

// releaseDir unmounts dir's own mount and removes it, when nothing is
// bound under it anymore.
func releaseDir(dir string) error {
	if isMountPoint(dir) {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return os.RemoveAll(dir)
}

// isMountPoint reports whether dir is the root of a mount, from
// /proc/self/mountinfo (bind mounts of the same file system share st_dev,
// so stat cannot tell).
func isMountPoint(dir string) bool {
	mounts, err := mountPoints()
	if err != nil {
		return false
	}
	return mounts[dir]
}

func mountPoints() (map[string]bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		var id, parent int
		var devs, root, point string
		if n, _ := fmt.Sscanf(line, "%d %d %s %s %s", &id, &parent, &devs, &root, &point); n == 5 {
			m[unescapeMount(point)] = true
		}
	}
	return m, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				out = append(out, v)
				i += 3
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}
