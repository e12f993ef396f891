package controlplane

import (
	"bytes"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	pkiutil "github.com/kplane/kplane/internal/pki"
)

func testConfig(t *testing.T) ClusterConfig {
	t.Helper()
	return ClusterConfig{
		Name:        "demo",
		ID:          "id-1",
		Dir:         filepath.Join(t.TempDir(), "id-1"),
		SecurePort:  6443,
		EtcdServers: []string{"http://127.0.0.1:2379"},
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCertPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPKIGenerate(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdvertiseAddress = "10.1.2.3"
	p, err := EnsurePKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Generated) != 9 {
		t.Errorf("generated %v, want 8 pairs + sa", p.Generated)
	}
	ca := readCert(t, cfg.CertFile(CertCA))
	if !ca.IsCA || ca.NotAfter.Before(time.Now().Add(9*365*24*time.Hour)) {
		t.Errorf("CA: IsCA=%v NotAfter=%v", ca.IsCA, ca.NotAfter)
	}
	if dec, _ := base64.StdEncoding.DecodeString(p.CertificateAuthorityData()); !bytes.Equal(dec, p.CACertPEM) {
		t.Error("CertificateAuthorityData is not base64 of the CA PEM")
	}
	if b, _ := ReadCACertPEM(cfg); !bytes.Equal(b, p.CACertPEM) {
		t.Error("ReadCACertPEM differs")
	}

	// Serving certificate SANs.
	srv := readCert(t, cfg.CertFile(CertAPIServer))
	for _, d := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} {
		if !slices.Contains(srv.DNSNames, d) {
			t.Errorf("serving cert lacks DNS SAN %s: %v", d, srv.DNSNames)
		}
	}
	for _, ip := range []string{"10.100.0.1", "127.0.0.1", "10.1.2.3"} {
		if !slices.ContainsFunc(srv.IPAddresses, net.ParseIP(ip).Equal) {
			t.Errorf("serving cert lacks IP SAN %s: %v", ip, srv.IPAddresses)
		}
	}
	if err := srv.VerifyHostname("kubernetes.default.svc"); err != nil {
		t.Error(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "kubernetes.default.svc"}); err != nil {
		t.Errorf("serving cert does not verify: %v", err)
	}

	// Client certificates: subjects, client auth, signed by the right CA.
	fpCA := readCert(t, cfg.CertFile(CertFrontProxyCA))
	fpPool := x509.NewCertPool()
	fpPool.AddCert(fpCA)
	for _, tc := range []struct {
		name, cn, org string
		roots         *x509.CertPool
	}{
		{CertAdmin, "kubernetes-admin", "system:masters", pool},
		{CertControllerManager, "system:kube-controller-manager", "", pool},
		{CertScheduler, "system:kube-scheduler", "", pool},
		{CertAPIServerKubeletClient, "kube-apiserver-kubelet-client", "system:masters", pool},
		{CertFrontProxyClient, "front-proxy-client", "", fpPool},
	} {
		c := readCert(t, cfg.CertFile(tc.name))
		if c.Subject.CommonName != tc.cn || (tc.org != "" && !slices.Equal(c.Subject.Organization, []string{tc.org})) {
			t.Errorf("%s: subject %v", tc.name, c.Subject)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: tc.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, err := tls.LoadX509KeyPair(cfg.CertFile(tc.name), cfg.KeyFile(tc.name)); err != nil {
			t.Errorf("%s: key pair: %v", tc.name, err)
		}
	}
	// The front-proxy client is not trusted by the cluster CA.
	if _, err := readCert(t, cfg.CertFile(CertFrontProxyClient)).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("front-proxy client verifies against the cluster CA")
	}

	// Service-account key: RSA, public key matches.
	kb, _ := os.ReadFile(cfg.KeyFile(ServiceAccountKey))
	k, err := pkiutil.ParsePrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.(*rsa.PrivateKey); !ok {
		t.Errorf("sa key is %T", k)
	}

	// Key files are 0600, the pki dir 0700.
	keys, _ := filepath.Glob(filepath.Join(cfg.Dir, "pki", "*.key"))
	if len(keys) != 9 {
		t.Errorf("key files: %v", keys)
	}
	for _, f := range keys {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(filepath.Join(cfg.Dir, "pki")); fi.Mode().Perm() != 0o700 {
		t.Errorf("pki dir mode %v", fi.Mode().Perm())
	}
}

func TestPKIIdempotent(t *testing.T) {
	cfg := testConfig(t)
	if _, err := EnsurePKI(cfg); err != nil {
		t.Fatal(err)
	}
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		files, _ := filepath.Glob(filepath.Join(cfg.Dir, "pki", "*"))
		for _, f := range files {
			m[filepath.Base(f)], _ = os.ReadFile(f)
		}
		return m
	}
	before := snapshot()
	p, err := EnsurePKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Generated) != 0 {
		t.Errorf("second EnsurePKI regenerated %v", p.Generated)
	}
	after := snapshot()
	for name, b := range before {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("%s changed", name)
		}
	}

	// A new endpoint address re-issues only the serving cert; the CA stays.
	cfg.AdvertiseAddress = "10.9.9.9"
	p, err = EnsurePKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Generated, []string{CertAPIServer}) {
		t.Errorf("after SAN change regenerated %v, want [apiserver]", p.Generated)
	}
	if !slices.ContainsFunc(readCert(t, cfg.CertFile(CertAPIServer)).IPAddresses, net.ParseIP("10.9.9.9").Equal) {
		t.Error("new SAN missing")
	}
	if !bytes.Equal(before["ca.crt"], snapshot()["ca.crt"]) {
		t.Error("CA changed")
	}

	// A damaged leaf is re-issued; a corrupt key is replaced.
	if err := os.WriteFile(cfg.KeyFile(CertAdmin), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = EnsurePKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Generated, []string{CertAdmin}) {
		t.Errorf("after corrupt admin key regenerated %v", p.Generated)
	}

	// A new CA (lost ca.key) re-issues every leaf signed by it.
	os.Remove(cfg.KeyFile(CertCA))
	p, err = EnsurePKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{CertCA, CertAPIServer, CertAPIServerKubeletClient, CertAdmin, CertControllerManager, CertScheduler}
	if !slices.Equal(p.Generated, want) {
		t.Errorf("after CA loss regenerated %v, want %v", p.Generated, want)
	}
}

func TestFirstServiceIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.100.0.0/16": "10.100.0.1",
		"172.20.0.0/16": "172.20.0.1",
		"10.0.0.7/24":   "10.0.0.1",
		"fd00::/108":    "fd00::1",
	} {
		ip, err := firstServiceIP(cidr)
		if err != nil || ip.String() != want {
			t.Errorf("%s: %v %v, want %s", cidr, ip, err, want)
		}
	}
	if _, err := firstServiceIP("nope"); err == nil {
		t.Error("bad CIDR accepted")
	}
}
