package node

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// InotifyInstances is how many inotify instances a node's processes hold
// (the kubelet's client CA, plugin and flex-volume directories and cAdvisor's
// cgroup watchers; containerd's one): they count against root's
// fs.inotify.max_user_instances, 128 by default, shared by every node.
const InotifyInstances = 6

// InotifyError says that the host's inotify instances are used up, and
// which setting raises them (kplane never changes the host's sysctls).
type InotifyError struct{ Limit string }

func (e *InotifyError) Error() string {
	return fmt.Sprintf("the host's inotify instances are used up (fs.inotify.max_user_instances = %s, about %d per node): "+
		"raise it (sysctl -w fs.inotify.max_user_instances=1024) or run fewer nodes", e.Limit, InotifyInstances)
}

// inotifyRoom fails with an *InotifyError when n inotify instances cannot be
// had now: a kubelet that meets the limit fails with a "too many open files"
// that names no cause.
func inotifyRoom(n int) error {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range n {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if errors.Is(err, unix.EMFILE) {
			limit, _ := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
			return &InotifyError{Limit: strings.TrimSpace(string(limit))}
		}
		if err != nil {
			return fmt.Errorf("inotify: %w", err)
		}
		fds = append(fds, fd)
	}
	return nil
}
