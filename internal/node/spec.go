// Package node runs one worker node of a kplane cluster as a supervised
// process tree: `kplane node-run --dir DIR` (the agent, see Run) enters the
// node's network namespace and a private mount namespace, gives the node a
// cgroup root of its own, starts the node's own containerd (root, state and
// socket under DIR), imports the sandbox image kplane builds itself, and runs
// the kubelet and kube-proxy (embedded, see internal/nodecomponents) until it
// is told to stop. Teardown removes every process, cgroup and file the node
// made.
//
// This package writes the node's spec and every component's configuration;
// it does not import Kubernetes (internal/nodecomponents does).
//
// Runtime choice: the container runtime is Debian's containerd (1.6), runc
// and containernetworking-plugins, found on PATH (/usr/lib/cni for the CNI
// plugins). Embedding containerd v2.4.2 into the kplane binary resolved with
// go get, but moved ~45 shared modules (grpc, otel, x/*) that kube-apiserver
// and etcd are built against, and still needed runc (cgo) and the CNI
// plugins (package main) as separate programs plus a multi-call shim; that
// was judged too much for the first real node. RequiredPackages names what
// to install; Check fails with that name when a program is missing.
package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/kplane/kplane/internal/fileutil"
)

// Spec is what one node runs. The caller (the nodegroup reconciler, or a
// test) writes it as DIR/spec.json; `kplane node-run --dir DIR` runs it.
type Spec struct {
	// Name is the node name: the instance's private DNS name
	// (ip-A-B-C-D.REGION.compute.internal).
	Name       string `json:"name"`
	InstanceID string `json:"instanceID"`
	// ProviderID is aws:///ZONE/INSTANCE-ID.
	ProviderID string `json:"providerID"`
	// NodeIP is the instance's private IP, held by an interface in NetNSPath.
	NodeIP string `json:"nodeIP"`
	// NetNSPath names the network namespace the node runs in (a bind mount
	// such as /run/netns/NAME). Its owner creates and deletes it.
	NetNSPath string `json:"netnsPath"`

	// PodCIDR is this node's pod range (CNI bridge + host-local IPAM).
	PodCIDR string `json:"podCIDR"`
	// ClusterCIDR is the range of all pods of the cluster (kube-proxy's
	// masquerade decisions); "" = PodCIDR.
	ClusterCIDR string `json:"clusterCIDR,omitempty"`
	// ClusterDNS are the cluster DNS Service IPs given to pods (may be empty).
	ClusterDNS    []string `json:"clusterDNS,omitempty"`
	ClusterDomain string   `json:"clusterDomain,omitempty"`

	// APIServerURL is the cluster endpoint as reached from inside NetNSPath.
	APIServerURL string `json:"apiServerURL"`
	// CAFile is the cluster CA (verifies the apiserver and, on the kubelet's
	// port, the apiserver's client certificate).
	CAFile string `json:"caFile"`
	// Credentials of the kubelet: a client certificate (ClientCertFile,
	// ClientKeyFile), an exec credential plugin (Exec), e.g. `aws eks
	// get-token` with the node role, or the node role's IAM token in a file
	// (NodeRoleToken).
	ClientCertFile string         `json:"clientCertFile,omitempty"`
	ClientKeyFile  string         `json:"clientKeyFile,omitempty"`
	Exec           *ExecConfig    `json:"exec,omitempty"`
	NodeRoleToken  *NodeRoleToken `json:"nodeRoleToken,omitempty"`
	// KubeProxyCertFile / KubeProxyKeyFile: kube-proxy's client certificate
	// (system:kube-proxy, which the cluster binds to system:node-proxier);
	// empty = kube-proxy uses the kubelet's credentials.
	KubeProxyCertFile string `json:"kubeProxyCertFile,omitempty"`
	KubeProxyKeyFile  string `json:"kubeProxyKeyFile,omitempty"`
	// ServingCertFile / ServingKeyFile: the kubelet's serving certificate,
	// signed by the cluster CA for Name and NodeIP.
	ServingCertFile string `json:"servingCertFile"`
	ServingKeyFile  string `json:"servingKeyFile"`
	// ServingCertSerial is that certificate's serial number. The kubelet
	// reads the files once (it does not watch them, see kubeletConfig), so
	// a renewed certificate changes the spec, which restarts the agent.
	ServingCertSerial string `json:"servingCertSerial,omitempty"`

	Labels map[string]string `json:"labels,omitempty"`
	Taints []Taint           `json:"taints,omitempty"`
	// MaxPods; 0 = 110.
	MaxPods int `json:"maxPods,omitempty"`

	// ProxyMode is kube-proxy's mode: "iptables", "nftables", or "" for no
	// kube-proxy.
	ProxyMode string `json:"proxyMode,omitempty"`

	// RegistryProxy is how the node's containerd reaches image registries:
	// an HTTP proxy its runtime alone is given (HTTP_PROXY and HTTPS_PROXY
	// in containerd's environment, replacing any it would inherit), nil for
	// none (containerd keeps the environment it inherits: a machine that
	// joins with its own network, or nodes kept offline).
	RegistryProxy *RegistryProxy `json:"registryProxy,omitempty"`
	// RegistryConfigDir is containerd's registry config_path: one
	// directory per registry host holding a hosts.toml (plain-http
	// registries, mirrors, CAs). "" = DefaultRegistryConfigDir.
	RegistryConfigDir string `json:"registryConfigDir,omitempty"`

	// CgroupRoot is the node's cgroup root, the same path in every cgroup v1
	// hierarchy; "" = <this process's memory cgroup>/kplane/<Name>, so the
	// node's memory stays accounted under whoever started it.
	CgroupRoot string `json:"cgroupRoot,omitempty"`
}

// RegistryProxy is the proxy the node's containerd pulls images through.
type RegistryProxy struct {
	// URL is http://127.0.0.1:PORT, listening in the node's namespace.
	URL string `json:"url"`
	// NoProxy are the hosts and CIDRs containerd reaches directly (its
	// NO_PROXY): the node's VPC, pods and Services, the cluster endpoint.
	NoProxy []string `json:"noProxy,omitempty"`
}

// DefaultRegistryConfigDir is where containerd's registry hosts
// configuration lives by convention: the host's own, read by the node's
// containerd as the host's containerd would.
const DefaultRegistryConfigDir = "/etc/containerd/certs.d"

// NodeRoleToken is the node role's IAM token (internal/nodecreds: what
// `kplane node token` prints) in a file the kubelet reads (kubeconfig
// tokenFile), written before the node starts and renewed well before it
// expires by whoever runs the node (kplane's node executor). The same token
// as the exec plugin gives, without starting a credential program for it.
type NodeRoleToken struct {
	TokenFile string `json:"tokenFile"`
}

// ExecConfig is a client-go exec credential plugin.
type ExecConfig struct {
	Command string            `json:"command"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// Taint is a node taint as the kubelet registers it.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// SpecPath is DIR/spec.json.
func SpecPath(dir string) string { return filepath.Join(dir, "spec.json") }

// WriteSpec validates spec and writes DIR/spec.json (mode 0600).
func WriteSpec(dir string, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return fileutil.WriteFileIfChanged(SpecPath(dir), append(b, '\n'), 0o600)
}

// ReadSpec reads and validates DIR/spec.json.
func ReadSpec(dir string) (Spec, error) {
	var spec Spec
	b, err := os.ReadFile(SpecPath(dir))
	if err != nil {
		return spec, err
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("%s: %w", SpecPath(dir), err)
	}
	if err := spec.Validate(); err != nil {
		return spec, fmt.Errorf("%s: %w", SpecPath(dir), err)
	}
	return spec, nil
}

// Validate checks what the node cannot start without.
func (s Spec) Validate() error {
	var errs []error
	req := func(name, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	req("name", s.Name)
	req("netnsPath", s.NetNSPath)
	req("apiServerURL", s.APIServerURL)
	req("caFile", s.CAFile)
	req("servingCertFile", s.ServingCertFile)
	req("servingKeyFile", s.ServingKeyFile)
	if strings.ContainsAny(s.Name, "/ \t\n") || len(s.Name) > 253 {
		errs = append(errs, fmt.Errorf("name %q is not a node name", s.Name))
	}
	if net.ParseIP(s.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("nodeIP %q is not an IP address", s.NodeIP))
	}
	if _, _, err := net.ParseCIDR(s.PodCIDR); err != nil {
		errs = append(errs, fmt.Errorf("podCIDR: %w", err))
	}
	if s.ClusterCIDR != "" {
		if _, _, err := net.ParseCIDR(s.ClusterCIDR); err != nil {
			errs = append(errs, fmt.Errorf("clusterCIDR: %w", err))
		}
	}
	creds := 0
	for _, set := range []bool{s.ClientCertFile != "", s.Exec != nil, s.NodeRoleToken != nil} {
		if set {
			creds++
		}
	}
	if creds != 1 {
		errs = append(errs, errors.New("exactly one of clientCertFile (with clientKeyFile), exec and nodeRoleToken is required"))
	}
	switch s.ProxyMode {
	case "", "iptables", "nftables":
	default:
		errs = append(errs, fmt.Errorf("proxyMode %q: want iptables, nftables or empty", s.ProxyMode))
	}
	if s.RegistryProxy != nil {
		if u, err := url.Parse(s.RegistryProxy.URL); err != nil || u.Scheme != "http" || u.Host == "" {
			errs = append(errs, fmt.Errorf("registryProxy.url %q: want http://HOST:PORT", s.RegistryProxy.URL))
		}
	}
	if s.RegistryConfigDir != "" && !filepath.IsAbs(s.RegistryConfigDir) {
		errs = append(errs, fmt.Errorf("registryConfigDir %q must be an absolute path", s.RegistryConfigDir))
	}
	if s.CgroupRoot != "" && (!strings.HasPrefix(s.CgroupRoot, "/") || strings.Contains(s.CgroupRoot, "..")) {
		errs = append(errs, fmt.Errorf("cgroupRoot %q must be an absolute cgroup path", s.CgroupRoot))
	}
	return errors.Join(errs...)
}

// Paths are the files and directories of a node under its DIR.
type Paths struct{ Dir string }

func (p Paths) join(elem ...string) string { return filepath.Join(append([]string{p.Dir}, elem...)...) }

// Socket is containerd's gRPC socket. Unix socket paths are limited to 107
// bytes, so it has a short name (Check rejects a DIR too long for it).
func (p Paths) Socket() string            { return p.join("c.sock") }
func (p Paths) ContainerdConfig() string  { return p.join("containerd.toml") }
func (p Paths) ContainerdRoot() string    { return p.join("containerd", "root") }
func (p Paths) ContainerdState() string   { return p.join("containerd", "state") }
func (p Paths) CNIConfDir() string        { return p.join("cni", "net.d") }
func (p Paths) KubeletConfig() string     { return p.join("kubelet.yaml") }
func (p Paths) KubeletKubeconfig() string { return p.join("kubelet.kubeconfig") }
func (p Paths) KubeProxyKubeconfig() string {
	return p.join("kube-proxy.kubeconfig")
}
func (p Paths) PauseImage() string  { return p.join("pause.tar") }
func (p Paths) CgroupsFile() string { return p.join("cgroups.json") }
func (p Paths) LogDir() string      { return p.join("logs") }

// VarLib is bound over /var/lib in the node's mount namespace: the kubelet
// hard-codes /var/lib/kubelet (device-plugin socket, pods, plugins) and CNI
// keeps its cache and IPAM leases under /var/lib/cni.
func (p Paths) VarLib() string { return p.join("var", "lib") }

// VarLog is bound over /var/log: /var/log/pods and /var/log/containers.
func (p Paths) VarLog() string { return p.join("var", "log") }

// Run is a tmpfs-like directory bound over /run: runc's state, containerd
// shims' sockets, pod network namespaces' pins and iptables' lock file stay
// the node's own.
func (p Paths) Run() string { return p.join("run") }

// SysctlDir holds the files bound over host-global /proc/sys entries.
func (p Paths) SysctlDir() string { return p.join("sysctl") }
