package nodenet

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// hostSnapshot is what of the host's network kplane must never change:
// its interfaces and their addresses, every route and rule of every table,
// neighbours aside (they come and go by themselves), every readable
// /proc/sys/net entry, the nftables ruleset (raw netlink dump, generation
// id included) and the legacy x_tables' table names; plus the mounts and
// the network namespaces bound anywhere, which kplane makes and must
// remove.
type hostSnapshot map[string]string

// volatileSysctl are entries the kernel changes by itself.
var volatileSysctl = []string{"nf_conntrack_count", "/neigh/", "/route/gc_", "/route/flush"}

// snapshotHost reads the host's network state. dir is the test's
// namespace directory: other kplanes' directories (other tests running at
// the same time) are left out of the mounts.
func snapshotHost(t *testing.T, dir string) hostSnapshot {
	t.Helper()
	s := hostSnapshot{}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		a := l.Attrs()
		names = append(names, fmt.Sprintf("%d %s %s mtu=%d flags=%v master=%d", a.Index, a.Name, l.Type(), a.MTU, a.Flags, a.MasterIndex))
	}
	s["links"] = strings.Join(names, "\n")
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var as []string
	for _, a := range addrs {
		as = append(as, fmt.Sprintf("%d %s", a.LinkIndex, a.IPNet))
	}
	sort.Strings(as)
	s["addrs"] = strings.Join(as, "\n")
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, r := range routes {
		rs = append(rs, r.String()+fmt.Sprintf(" table=%d", r.Table))
	}
	sort.Strings(rs)
	s["routes"] = strings.Join(rs, "\n")
	rules, err := netlink.RuleList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var ru []string
	for _, r := range rules {
		ru = append(ru, r.String())
	}
	sort.Strings(ru)
	s["rules"] = strings.Join(ru, "\n")

	filepath.WalkDir("/proc/sys/net", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		for _, v := range volatileSysctl {
			if strings.Contains(p, v) {
				return nil
			}
		}
		if b, err := os.ReadFile(p); err == nil {
			s["sysctl "+p] = string(b)
		}
		return nil
	})
	if len(s) < 100 {
		t.Fatalf("read only %d host sysctls: the snapshot would prove nothing", len(s))
	}
	s["ip_forward"] = readFile(t, "/proc/sys/net/ipv4/ip_forward")
	s["nftables"] = nftDump(t)
	for _, f := range []string{"ip_tables_names", "ip6_tables_names", "arp_tables_names"} {
		b, _ := os.ReadFile("/proc/net/" + f)
		s["x_tables "+f] = string(b)
	}
	s["mounts"] = strings.Join(mountLines(t, dir), "\n")
	return s
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mountLines is /proc/self/mountinfo without the mount ids, less the
// mounts of other kplanes' namespace directories and of temporary
// directories (other tests on the machine make and remove their own).
func mountLines(t *testing.T, dir string) []string {
	var out []string
	for _, l := range strings.Split(readFile(t, "/proc/self/mountinfo"), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		point := unescapeMount(f[4])
		if !strings.HasPrefix(point, dir) && (strings.HasPrefix(point, "/run/kplane/") || strings.HasPrefix(point, os.TempDir())) {
			continue
		}
		out = append(out, strings.Join(f[2:], " "))
	}
	sort.Strings(out)
	return out
}

// nftDump is the raw netlink dump of the host's whole nftables ruleset:
// tables, chains, rules, sets, stateful objects and flowtables of every
// family. Each message carries the ruleset's generation id, which any change
// bumps.
func nftDump(t *testing.T) string {
	var buf bytes.Buffer
	for _, msg := range []int{unix.NFT_MSG_GETTABLE, unix.NFT_MSG_GETCHAIN, unix.NFT_MSG_GETRULE, unix.NFT_MSG_GETSET, unix.NFT_MSG_GETOBJ, unix.NFT_MSG_GETFLOWTABLE} {
		req := nl.NewNetlinkRequest(unix.NFNL_SUBSYS_NFTABLES<<8|msg, unix.NLM_F_DUMP)
		req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_UNSPEC, Version: unix.NFNETLINK_V0})
		msgs, err := req.Execute(unix.NETLINK_NETFILTER, 0)
		if err != nil {
			t.Fatalf("nftables dump %d: %v", msg, err)
		}
		fmt.Fprintf(&buf, "type %d: %d messages\n", msg, len(msgs))
		for _, m := range msgs {
			fmt.Fprintf(&buf, "%x\n", m)
		}
	}
	return buf.String()
}

func (before hostSnapshot) compare(t *testing.T, after hostSnapshot, when string) {
	t.Helper()
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if before[k] != after[k] {
			t.Errorf("%s: host's %s changed:\nbefore: %q\nafter:  %q", when, k, before[k], after[k])
		}
	}
}
