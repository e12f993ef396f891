// Package controlplane prepares and runs one Kubernetes control plane
// (kube-apiserver, kube-controller-manager, kube-scheduler) per EKS cluster.
//
// It never imports k8s.io/kubernetes (internal/components, in the child
// process, does). The Reconciler (reconciler.go) drives each cluster record
// to its intent through a Provisioner; LocalProvisioner (provisioner.go)
// gives the cluster its etcd user, PKI (pki.go), kubeconfigs and one
// ProcessSpec per replica (flags.go turns a ClusterConfig into component
// flags, spec.go writes DIR/spec.json), and runs each replica through an
// Executor (executor.go): `kplane controlplane-run --dir DIR`, a child
// process kept running by internal/supervise.
package controlplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// EKS control plane log types (the values of the EKS logging API).
const (
	LogTypeAPI               = "api"
	LogTypeAudit             = "audit"
	LogTypeAuthenticator     = "authenticator"
	LogTypeControllerManager = "controllerManager"
	LogTypeScheduler         = "scheduler"
)

// DefaultServiceCIDR is the EKS default service CIDR.
const DefaultServiceCIDR = shapes.DefaultServiceCIDR

// ClusterConfig is everything needed to run one cluster's control plane.
// All component flags are derived from it in flags.go.
type ClusterConfig struct {
	Name string
	ID   string

	// Dir is DATA_DIR/clusters/<id>: holds pki/, the kubeconfigs, logs/,
	// audit-policy.yaml, spec.json and pid.
	Dir string

	// KubernetesVersion is the cluster's minor ("1.36"): which program runs
	// the control plane (versions.Executable). "" is the built-in minor.
	KubernetesVersion string

	// BindAddress is the apiserver listen address, e.g. 127.0.0.1 (default).
	BindAddress string
	// AdvertiseAddress is the IP the apiserver advertises (and the default
	// endpoint host). Default: BindAddress, or 127.0.0.1 if that is unspecified.
	AdvertiseAddress string
	// ExtraSANs are further DNS names / IPs for the serving certificate
	// (the endpoint's address inside the cluster's VPC).
	ExtraSANs []string
	// SecurePort is the apiserver HTTPS port (see AllocatePort).
	SecurePort int
	// EndpointPort is the port of the cluster's endpoint when a load balancer
	// owns it in front of the replicas; 0 means SecurePort (no balancer).
	EndpointPort int
	// Replica names one of the cluster's control-plane processes (its
	// availability zone). Each replica has its own process directory,
	// port and spec; all share the cluster's PKI. "" is the single process
	// kept in Dir itself (benchmarks, tests).
	Replica string

	EtcdServers []string
	// EtcdPrefix is this cluster's etcd key prefix, e.g. /kplane-clusters/<id>.
	EtcdPrefix string
	// Optional TLS client auth to etcd.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string

	// ServiceCIDR defaults to DefaultServiceCIDR.
	ServiceCIDR string
	// ServiceAccountIssuer is the cluster's OIDC issuer URL.
	ServiceAccountIssuer string
	// LogTypes are the enabled EKS log types (LogType* constants).
	LogTypes []string
	// KMSSocket, when set, is the unix socket of kplane's KMS v2 plugin for
	// this cluster: Secrets are encrypted through it (encryptionConfig).
	KMSSocket string

	// GOGC (after startup) and MemoryLimitBytes tune the child's Go GC
	// (0 = DefaultGOGC / DefaultMemoryLimitBytes; negative = Go's default).
	GOGC             int
	MemoryLimitBytes int64
	// APIServerOnly runs only kube-apiserver (no controller-manager/scheduler):
	// the memory/startup "floor" for benchmarks. Bootstrapping (default
	// ServiceAccount) then never completes.
	APIServerOnly bool
	// ExtraAPIServerArgs etc. are appended last (later flags win).
	ExtraAPIServerArgs, ExtraControllerManagerArgs []string
}

// withDefaults returns cfg with defaults filled in.
func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.BindAddress == "" {
		c.BindAddress = "127.0.0.1"
	}
	if c.AdvertiseAddress == "" {
		c.AdvertiseAddress = c.BindAddress
		if ip := net.ParseIP(c.AdvertiseAddress); ip == nil || ip.IsUnspecified() {
			c.AdvertiseAddress = "127.0.0.1"
		}
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = DefaultServiceCIDR
	}
	if c.EtcdPrefix == "" && c.ID != "" {
		c.EtcdPrefix = "/kplane-clusters/" + c.ID
	}
	if c.ServiceAccountIssuer == "" {
		c.ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	return c
}

// Validate reports configuration errors.
func (c ClusterConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("ID is required"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir is required"))
	} else if !filepath.IsAbs(c.Dir) {
		errs = append(errs, fmt.Errorf("Dir %q must be absolute", c.Dir))
	}
	if c.SecurePort <= 0 || c.SecurePort > 65535 {
		errs = append(errs, fmt.Errorf("SecurePort %d out of range", c.SecurePort))
	}
	if len(c.EtcdServers) == 0 {
		errs = append(errs, errors.New("EtcdServers is required"))
	}
	if net.ParseIP(c.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("BindAddress %q is not an IP", c.BindAddress))
	}
	if net.ParseIP(c.AdvertiseAddress) == nil {
		errs = append(errs, fmt.Errorf("AdvertiseAddress %q is not an IP", c.AdvertiseAddress))
	}
	if _, err := firstServiceIP(c.ServiceCIDR); err != nil {
		errs = append(errs, err)
	}
	for _, t := range c.LogTypes {
		switch t {
		case LogTypeAPI, LogTypeAudit, LogTypeAuthenticator, LogTypeControllerManager, LogTypeScheduler:
		default:
			errs = append(errs, fmt.Errorf("unknown log type %q", t))
		}
	}
	return errors.Join(errs...)
}

// Endpoint is the cluster's public API server URL (EKS Cluster.endpoint).
func (c ClusterConfig) Endpoint() string {
	c = c.withDefaults()
	host := c.AdvertiseAddress
	port := c.EndpointPort
	if port == 0 {
		port = c.SecurePort
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// ProcessDir holds what belongs to one process: spec.json, pid, the
// components' kubeconfigs and logs/. It is Dir for the unreplicated process
// and Dir/replicas/REPLICA for a replica.
func (c ClusterConfig) ProcessDir() string {
	if c.Replica == "" {
		return c.Dir
	}
	return filepath.Join(c.Dir, "replicas", c.Replica)
}

// ProcessKey names the process to an Executor: ID, or ID/REPLICA.
func (c ClusterConfig) ProcessKey() string {
	if c.Replica == "" {
		return c.ID
	}
	return c.ID + "/" + c.Replica
}

// LocalEndpoint is the URL the control plane's own components (and kplane)
// use to reach the apiserver: the bind address, or loopback if it binds to all.
func (c ClusterConfig) LocalEndpoint() string {
	c = c.withDefaults()
	host := c.BindAddress
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(c.SecurePort))
}

// LogEnabled reports whether the EKS log type t is enabled.
func (c ClusterConfig) LogEnabled(t string) bool {
	for _, x := range c.LogTypes {
		if x == t {
			return true
		}
	}
	return false
}

// LogFile is where this process writes log type t (an EKS log type):
// PROCESS_DIR/logs/<t>.log. LogFiles lists a cluster's files of a type.
func (c ClusterConfig) LogFile(t string) string {
	return filepath.Join(c.ProcessDir(), "logs", t+".log")
}

// LogFiles are all of a cluster's files of log type t: the cluster
// directory's own (kplane writes the authenticator log there) and each
// replica's, in name order.
func LogFiles(clusterDir, t string) []string {
	files, _ := filepath.Glob(filepath.Join(clusterDir, "replicas", "*", "logs", t+".log"))
	own := filepath.Join(clusterDir, "logs", t+".log")
	if _, err := os.Stat(own); err == nil {
		files = append([]string{own}, files...)
	}
	return files
}

// Paths of files in the cluster directory.
func (c ClusterConfig) pkiDir() string          { return filepath.Join(c.Dir, "pki") }
func (c ClusterConfig) pkiPath(n string) string { return filepath.Join(c.Dir, "pki", n) }

// KubeconfigPath is the path of the kubeconfig written for user (a User* constant).
func (c ClusterConfig) KubeconfigPath(user string) string {
	return filepath.Join(c.ProcessDir(), user+".kubeconfig")
}

// SpecPath is PROCESS_DIR/spec.json.
func (c ClusterConfig) SpecPath() string { return SpecPath(c.ProcessDir()) }

// firstServiceIP returns the first usable IP of cidr (the kubernetes service IP).
func firstServiceIP(cidr string) (net.IP, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	p = p.Masked()
	ip := p.Addr().Next()
	if !ip.IsValid() || !p.Contains(ip) {
		return nil, fmt.Errorf("service CIDR %q has no usable address", cidr)
	}
	return net.IP(ip.AsSlice()), nil
}
