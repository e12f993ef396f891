package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kplane/kplane/internal/fileutil"
)

// Commands run beside `kplane serve` (kplane network, kplane kubeconfig) find
// its datastore in DATA_DIR: the embedded etcd's client URL in endpointFile,
// or how to reach an external etcd in externalFile. Only one of the two
// exists, the one of the last serve.
const (
	endpointFile = "etcd-endpoint"
	externalFile = "etcd-external.json"
)

// remembered is externalFile: endpoints and file paths, never a key.
type remembered struct {
	Endpoints []string `json:"endpoints"`
	CAFile    string   `json:"caFile"`
	CertFile  string   `json:"certFile"`
	KeyFile   string   `json:"keyFile"`
}

// RememberExternal writes how cfg reaches its external etcd into cfg.DataDir
// for commands run beside the server. The client CA is left out: those
// commands never issue certificates.
func RememberExternal(cfg Config) error {
	t := cfg.TLS.abs()
	b, err := json.MarshalIndent(remembered{Endpoints: cfg.Endpoints, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}, "", "  ")
	if err != nil {
		return err
	}
	if err := fileutil.WriteFile(filepath.Join(cfg.DataDir, externalFile), append(b, '\n'), 0o600); err != nil {
		return err
	}
	return removeIfExists(filepath.Join(cfg.DataDir, endpointFile))
}

// BesideConfig is the datastore of the kplane serving from dataDir, for a
// command run beside it: its external etcd if it uses one, else its embedded
// etcd.
func BesideConfig(dataDir string) (Config, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, externalFile))
	if err == nil {
		var r remembered
		if err := json.Unmarshal(b, &r); err != nil {
			return Config{}, fmt.Errorf("store: %s: %w", filepath.Join(dataDir, externalFile), err)
		}
		return Config{DataDir: dataDir, Endpoints: r.Endpoints, TLS: EtcdTLS{CAFile: r.CAFile, CertFile: r.CertFile, KeyFile: r.KeyFile}}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Config{}, err
	}
	ep, err := EmbeddedEndpoint(dataDir)
	if err != nil {
		return Config{}, fmt.Errorf("is kplane serving from %s? %w", dataDir, err)
	}
	return Config{DataDir: dataDir, Endpoints: []string{ep}}, nil
}

func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
