package nodenet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needRoot skips a test that makes network namespaces when not run as root:
// only root can make them.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces, veths and bridges")
	}
}

// newManager returns a manager with a directory of the test's own, and
// removes every namespace it made when the test ends, failed or not.
func newManager(t *testing.T) *Manager {
	t.Helper()
	m := New(DirFor(t.TempDir()))
	t.Cleanup(func() {
		vpcs, nodes, err := m.List()
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, n := range nodes {
			if err := m.RemoveNode(n); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		for _, v := range vpcs {
			if err := m.RemoveVPC(v); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
			t.Errorf("cleanup: %s still there (%v)", m.Dir(), err)
		}
	})
	return m
}

func node(t *testing.T, id, vpc, subnet, addr string) Node {
	t.Helper()
	n := Node{ID: id, VPC: vpc, Subnet: netip.MustParsePrefix(subnet), Addr: netip.MustParseAddr(addr)}
	r, err := PodRange(netip.MustParsePrefix("172.31.0.0/16"), netip.MustParsePrefix("10.100.0.0/16"))
	if err != nil {
		t.Fatal(err)
	}
	if n.PodCIDR, err = PodCIDR(netip.MustParsePrefix("172.31.0.0/16"), r, n.Addr); err != nil {
		t.Fatal(err)
	}
	return n
}

// serveRemoteAddr listens on addr inside the namespace at path and answers
// every connection with the address it came from, then closes it.
func serveRemoteAddr(t *testing.T, path, addr string) string {
	t.Helper()
	ln, err := ListenIn(context.Background(), path, nil, addr)
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, path, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// askFrom connects from the namespace at path to addr and returns what the
// server said (serveRemoteAddr: the source address it saw).
func askFrom(path, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := DialIn(ctx, path, &net.Dialer{}, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// capture reads every frame on the interfaces of the namespace its socket
// is made in (ifindex 0: all of them) or on one interface, until stop, and
// reports which of the markers it saw, and how many frames the kernel
// dropped for it (a capture that dropped proves nothing).
type capture struct {
	fd   int
	stop chan struct{}
	done chan struct{}
	seen map[string]bool
	drop uint32
}

func startCapture(t *testing.T, nsPath string, ifindex int, markers []string) *capture {
	t.Helper()
	var fd int
	open := func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind packet socket: %w", err)
		}
		return nil
	}
	var err error
	if nsPath == "" {
		err = open()
	} else {
		err = InNamespace(nsPath, open)
	}
	if err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	c := &capture{fd: fd, stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]bool{}}
	go func() {
		defer close(c.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			for _, m := range markers {
				if n > 0 && bytes.Contains(buf[:n], []byte(m)) {
					c.seen[m] = true
				}
			}
			if err != nil && err != unix.EAGAIN && err != unix.EINTR {
				return
			}
			select {
			case <-c.stop:
				return
			default:
			}
		}
	}()
	return c
}

// finish stops the capture and returns the markers seen and the frames the
// kernel dropped because the socket's buffer was full.
func (c *capture) finish(t *testing.T) (map[string]bool, uint32) {
	t.Helper()
	close(c.stop)
	<-c.done
	st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	unix.Close(c.fd)
	if err != nil {
		t.Fatalf("packet statistics: %v", err)
	}
	return c.seen, st.Drops
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// nsInode is the inode number naming the namespace bound at path.
func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// nsInUse reports where the network namespace with inode ino is still held:
// a process or thread in it, or a bind mount of it.
func nsInUse(ino uint64) []string {
	var where []string
	want := fmt.Sprintf("net:[%d]", ino)
	tasks, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/ns/net")
	for _, p := range tasks {
		if l, err := os.Readlink(p); err == nil && l == want {
			where = append(where, p)
		}
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, want) {
			where = append(where, "mount: "+l)
		}
	}
	return where
}
