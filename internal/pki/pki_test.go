package pki

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestCAAndLeavesAreKeptAndRenewed(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	ca, err := LoadOrCreateCA(p("ca.crt"), p("ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(p("ca.crt"), p("ca.key"), "test-ca")
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("the CA was not kept: %v", err)
	}
	spec := Spec{CommonName: "etcd", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}
	leaf, err := LoadOrIssue(p("s.crt"), p("s.key"), ca, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	kept, _ := LoadOrIssue(p("s.crt"), p("s.key"), ca, spec)
	if !kept.Cert.Equal(leaf.Cert) {
		t.Error("a valid leaf was issued again")
	}
	spec.DNSNames = []string{"localhost"}
	renewed, _ := LoadOrIssue(p("s.crt"), p("s.key"), ca, spec)
	if renewed.Cert.Equal(leaf.Cert) || len(renewed.Cert.DNSNames) != 1 {
		t.Error("a leaf missing a requested name was kept")
	}
	for _, key := range []string{"ca.key", "s.key"} {
		st, err := os.Stat(p(key))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", key, st.Mode().Perm(), err)
		}
	}
	other, _ := LoadOrCreateCA(p("other.crt"), p("other.key"), "other-ca")
	reissued, _ := LoadOrIssue(p("s.crt"), p("s.key"), other, spec)
	if reissued.Cert.CheckSignatureFrom(other.Cert) != nil {
		t.Error("a leaf of another CA was kept")
	}
}
