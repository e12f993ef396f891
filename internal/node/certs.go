package node

import (
	"net"
	"path/filepath"

	"github.com/kplane/kplane/internal/fileutil"
	"github.com/kplane/kplane/internal/pki"
)

// Certificates are a node's key pairs signed by its cluster's CA.
type Certificates struct {
	CAFile                          string
	ServingCertFile, ServingKeyFile string
	ServingCertSerial               string
	ClientCertFile, ClientKeyFile   string
	// kube-proxy's: system:kube-proxy, bound to system:node-proxier.
	KubeProxyCertFile, KubeProxyKeyFile string
}

// IssueCertificates signs, with the cluster CA at caCert/caKey, the
// kubelet's serving certificate for name and ip and a client certificate
// for system:node:NAME in system:nodes, and writes them (and a copy of the
// CA certificate) under DIR/pki, and kube-proxy's client certificate
// (system:kube-proxy). Kept while still good.
func IssueCertificates(caCert, caKey, dir, name, ip string) (Certificates, error) {
	ca, err := pki.Load(caCert, caKey)
	if err != nil {
		return Certificates{}, err
	}
	d := filepath.Join(dir, "pki")
	c := Certificates{
		CAFile:            filepath.Join(d, "ca.crt"),
		ServingCertFile:   filepath.Join(d, "kubelet-server.crt"),
		ServingKeyFile:    filepath.Join(d, "kubelet-server.key"),
		ClientCertFile:    filepath.Join(d, "kubelet-client.crt"),
		ClientKeyFile:     filepath.Join(d, "kubelet-client.key"),
		KubeProxyCertFile: filepath.Join(d, "kube-proxy.crt"),
		KubeProxyKeyFile:  filepath.Join(d, "kube-proxy.key"),
	}
	if err := fileutil.WriteFileIfChanged(c.CAFile, ca.CertPEM, 0o644); err != nil {
		return c, err
	}
	serving, err := pki.LoadOrIssue(c.ServingCertFile, c.ServingKeyFile, ca, pki.Spec{
		CommonName: "system:node:" + name, Organization: []string{"system:nodes"},
		DNSNames: []string{name}, IPs: []net.IP{net.ParseIP(ip)}, Server: true,
	})
	if err != nil {
		return c, err
	}
	c.ServingCertSerial = serving.Cert.SerialNumber.Text(16)
	if _, err := pki.LoadOrIssue(c.ClientCertFile, c.ClientKeyFile, ca, pki.Spec{
		CommonName: "system:node:" + name, Organization: []string{"system:nodes"}, Client: true,
	}); err != nil {
		return c, err
	}
	if _, err := pki.LoadOrIssue(c.KubeProxyCertFile, c.KubeProxyKeyFile, ca, pki.Spec{
		CommonName: "system:kube-proxy", Client: true,
	}); err != nil {
		return c, err
	}
	return c, nil
}
