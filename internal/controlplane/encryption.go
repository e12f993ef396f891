package controlplane

import (
	"path/filepath"

	"github.com/kplane/kplane/internal/nodenet"
)

// KMSSocketPath is where kplane serves cluster id's KMS v2 plugin:
// DATA_DIR/kms/ID.sock, or, when that is too long for a unix socket (108
// bytes), /run/kplane/HASH/kms-ID.sock beside the egress sockets
// (nodenet.DirFor: HASH names the data directory).
func KMSSocketPath(dataDir, id string) string {
	p := filepath.Join(dataDir, "kms", id+".sock")
	if len(p) > 100 {
		p = filepath.Join(filepath.Dir(nodenet.DirFor(dataDir)), "kms-"+id+".sock")
	}
	return p
}

// EncryptionConfigPath is PROCESS_DIR/encryption-config.yaml.
func (c ClusterConfig) EncryptionConfigPath() string {
	return filepath.Join(c.ProcessDir(), "encryption-config.yaml")
}

// encryptionConfig encrypts Secrets with the KMS v2 provider on socket;
// identity stays as a reader, so Secrets written before encryption was on
// still read (until they are rewritten).
func encryptionConfig(socket string) string {
	return `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources:
  - secrets
  providers:
  - kms:
      apiVersion: v2
      name: kplane-kms
      endpoint: unix://` + socket + `
      timeout: 10s
  - identity: {}
`
}
