package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// etcdFlags say which etcd kplane's datastore is in: the embedded one (no
// flags) or an external cluster. Names follow kube-apiserver's.
type etcdFlags struct {
	endpoints []string
	tls       store.EtcdTLS
}

// register adds the flags; only serve issues certificates, so only it takes
// the client CA.
func (e *etcdFlags) register(f *pflag.FlagSet, serve bool) {
	f.StringSliceVar(&e.endpoints, "etcd-endpoints", nil, "an external etcd cluster's client URLs (https://HOST:2379,...) instead of the embedded etcd")
	f.StringVar(&e.tls.CAFile, "etcd-cafile", "", "external etcd: CA file that verifies the members' serving certificates")
	f.StringVar(&e.tls.CertFile, "etcd-certfile", "", "external etcd: kplane's client certificate; its CN is kplane's etcd user (root, or a user with the root role when auth is on)")
	f.StringVar(&e.tls.KeyFile, "etcd-keyfile", "", "external etcd: the key of --etcd-certfile")
	if serve {
		f.StringVar(&e.tls.ClientCACertFile, "etcd-client-ca-cert", "", "external etcd: a CA the members trust for client certificates (their --trusted-ca-file); kplane issues each cluster's kube-apiserver its etcd client certificate from it")
		f.StringVar(&e.tls.ClientCAKeyFile, "etcd-client-ca-key", "", "external etcd: the key of --etcd-client-ca-cert")
	}
}

// given reports whether any etcd flag was set.
func (e *etcdFlags) given() bool { return len(e.endpoints) > 0 || !e.tls.IsZero() }

// external checks that the flags describe an external etcd completely, naming
// the flags that are missing; serve also needs the client CA.
func (e *etcdFlags) external(serve bool) error {
	need := []struct{ flag, value string }{
		{"--etcd-cafile", e.tls.CAFile}, {"--etcd-certfile", e.tls.CertFile}, {"--etcd-keyfile", e.tls.KeyFile},
	}
	if serve {
		need = append(need, struct{ flag, value string }{"--etcd-client-ca-cert", e.tls.ClientCACertFile},
			struct{ flag, value string }{"--etcd-client-ca-key", e.tls.ClientCAKeyFile})
	}
	var missing []string
	for _, n := range need {
		if n.value == "" {
			missing = append(missing, n.flag)
		}
	}
	if len(e.endpoints) == 0 {
		return fmt.Errorf("the external etcd flags need --etcd-endpoints")
	}
	if len(missing) > 0 {
		return fmt.Errorf("--etcd-endpoints (an external etcd, over https with client-certificate auth) also needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// serveConfig is the datastore of `kplane serve`: the embedded etcd in
// dataDir, or a fully described external one.
func (e *etcdFlags) serveConfig(dataDir string) (store.Config, error) {
	cfg := store.Config{DataDir: dataDir}
	if !e.given() {
		return cfg, nil
	}
	if err := e.external(true); err != nil {
		return cfg, err
	}
	cfg.Endpoints, cfg.TLS = e.endpoints, e.tls
	return cfg, cfg.Validate()
}

// besideConfig is the datastore of a command run beside `kplane serve`: the
// flags if given, else what the serve on dataDir left there.
func (e *etcdFlags) besideConfig(dataDir string) (store.Config, error) {
	if !e.given() {
		return store.BesideConfig(dataDir)
	}
	cfg := store.Config{DataDir: dataDir, Endpoints: e.endpoints}
	if !e.tls.IsZero() {
		// Endpoints alone name the embedded etcd of the serve on dataDir.
		if err := e.external(false); err != nil {
			return cfg, err
		}
		cfg.TLS = e.tls
	}
	return cfg, cfg.Validate()
}

// apply puts serve's datastore settings into cfg, or says what is wrong with
// them before anything starts.
func (e *etcdFlags) apply(cfg *server.Config, dataDir string) error {
	sc, err := e.serveConfig(dataDir)
	if err != nil {
		return err
	}
	cfg.EtcdEndpoints, cfg.EtcdTLS = sc.Endpoints, sc.TLS
	return nil
}

// remember leaves an external etcd's settings in dataDir for the commands run
// beside serve (the embedded etcd leaves its endpoint itself).
func (e *etcdFlags) remember(dataDir string) error {
	if !e.given() {
		return nil
	}
	return store.RememberExternal(store.Config{DataDir: dataDir, Endpoints: e.endpoints, TLS: e.tls})
}
