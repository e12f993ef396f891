package nodenet

import (
	"net/netip"
	"testing"
)

func TestPodRange(t *testing.T) {
	for _, c := range []struct{ vpc, svc, want string }{
		{"172.31.0.0/16", "10.100.0.0/16", "100.64.0.0/10"},
		{"10.0.0.0/16", "172.20.0.0/16", "100.64.0.0/10"},
		{"100.64.0.0/16", "10.100.0.0/16", "10.192.0.0/10"}, // the VPC is in 100.64/10
		{"100.64.0.0/16", "10.200.0.0/16", ""},              // and the Service CIDR in the fallback
		{"172.31.0.0/16", "", "100.64.0.0/10"},
	} {
		var svc netip.Prefix
		if c.svc != "" {
			svc = netip.MustParsePrefix(c.svc)
		}
		got, err := PodRange(netip.MustParsePrefix(c.vpc), svc)
		if c.want == "" {
			if err == nil {
				t.Errorf("PodRange(%s, %s) = %v, want an error", c.vpc, c.svc, got)
			}
			continue
		}
		if err != nil || got != netip.MustParsePrefix(c.want) {
			t.Errorf("PodRange(%s, %s) = %v, %v; want %s", c.vpc, c.svc, got, err, c.want)
		}
	}
}

func TestPodCIDR(t *testing.T) {
	r := netip.MustParsePrefix("100.64.0.0/10")
	for _, c := range []struct{ vpc, addr, want string }{
		{"172.31.0.0/16", "172.31.0.0", "100.64.0.0/26"},
		{"172.31.0.0/16", "172.31.0.4", "100.64.1.0/26"},
		{"172.31.0.0/16", "172.31.0.5", "100.64.1.64/26"},
		{"172.31.0.0/16", "172.31.255.255", "100.127.255.192/26"},
		{"10.0.0.0/20", "10.0.0.10", "100.64.10.0/24"}, // small VPCs get /24s
		{"10.0.0.0/18", "10.0.1.1", "100.65.1.0/24"},   // 257 << 8
	} {
		got, err := PodCIDR(netip.MustParsePrefix(c.vpc), r, netip.MustParseAddr(c.addr))
		if err != nil || got != netip.MustParsePrefix(c.want) {
			t.Errorf("PodCIDR(%s, %s) = %v, %v; want %s", c.vpc, c.addr, got, err, c.want)
		}
	}
	// Every address of the largest VPC gets its own block inside the range.
	vpc := netip.MustParsePrefix("10.1.0.0/16")
	seen := map[netip.Prefix]bool{}
	for a := vpc.Addr(); vpc.Contains(a); a = a.Next() {
		p, err := PodCIDR(vpc, r, a)
		if err != nil || !r.Contains(p.Addr()) || !r.Contains(lastAddr(p)) || seen[p] {
			t.Fatalf("PodCIDR(%v) = %v, %v: outside %v or given twice", a, p, err, r)
		}
		seen[p] = true
	}
	for _, bad := range []struct{ vpc, addr string }{
		{"172.31.0.0/16", "172.32.0.1"}, // outside the VPC
		{"10.0.0.0/8", "10.1.2.3"},      // larger than AWS allows
		{"fd00::/56", "fd00::1"},
	} {
		if p, err := PodCIDR(netip.MustParsePrefix(bad.vpc), r, netip.MustParseAddr(bad.addr)); err == nil {
			t.Errorf("PodCIDR(%s, %s) = %v, want an error", bad.vpc, bad.addr, p)
		}
	}
}
