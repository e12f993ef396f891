package controlplane

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/fileutil"
)

// Go GC defaults for the control-plane child (see ClusterConfig.GOGC).
// Measured on an idle cluster: GOGC=50 after startup saves ~20 MiB RSS over
// Go's default 100 at no visible cost; startup runs with 100 (a higher value
// raised the peak RSS by up to 80 MiB without a measurable speed-up).
const (
	DefaultGOGC        = 50
	DefaultStartupGOGC = 100
	// DefaultMemoryLimitBytes = 0: no soft limit by default (a fixed limit
	// makes the GC spin once a big cluster's live heap exceeds it).
	DefaultMemoryLimitBytes = 0
)

// leaderElectionArgs are the controller-manager's and scheduler's lease
// timings. Kubernetes' defaults (15 s lease, 10 s renew deadline, 2 s retry)
// make a leader that cannot renew for 10 s exit, which with many control
// planes on a loaded machine restarts whole replicas and feeds the load;
// renewing every 2 s is also one etcd write per second per cluster at idle.
// These tolerate a 20 s stall and write every 5 s; a dead leader's
// replacement waits at most 30 s (the API is served by the other replicas
// meanwhile).
var leaderElectionArgs = []string{
	"--leader-elect=true",
	"--leader-elect-lease-duration=30s",
	"--leader-elect-renew-deadline=20s",
	"--leader-elect-retry-period=5s",
}

// auditPolicy logs every request at Metadata level (no request/response
// bodies), like EKS, skipping the RequestReceived stage.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
- RequestReceived
rules:
- level: Metadata
`

// AuditPolicyPath is DIR/audit-policy.yaml.
func (c ClusterConfig) AuditPolicyPath() string {
	return filepath.Join(c.ProcessDir(), "audit-policy.yaml")
}

// APIServerArgs returns kube-apiserver's flags for cfg.
func APIServerArgs(cfg ClusterConfig) []string {
	cfg = cfg.withDefaults()
	a := []string{
		"--advertise-address=" + cfg.AdvertiseAddress,
		"--bind-address=" + cfg.BindAddress,
		"--secure-port=" + strconv.Itoa(cfg.SecurePort),
		"--etcd-servers=" + strings.Join(cfg.EtcdServers, ","),
		"--etcd-prefix=" + cfg.EtcdPrefix,
	}
	if cfg.EtcdCAFile != "" {
		a = append(a, "--etcd-cafile="+cfg.EtcdCAFile)
	}
	if cfg.EtcdCertFile != "" {
		a = append(a, "--etcd-certfile="+cfg.EtcdCertFile, "--etcd-keyfile="+cfg.EtcdKeyFile)
	}
	a = append(a,
		"--service-cluster-ip-range="+cfg.ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--anonymous-auth=false",
		"--allow-privileged=true",
		"--enable-admission-plugins=NodeRestriction",
		"--client-ca-file="+cfg.CertFile(CertCA),
		"--tls-cert-file="+cfg.CertFile(CertAPIServer),
		"--tls-private-key-file="+cfg.KeyFile(CertAPIServer),
		"--kubelet-client-certificate="+cfg.CertFile(CertAPIServerKubeletClient),
		"--kubelet-client-key="+cfg.KeyFile(CertAPIServerKubeletClient),
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		"--requestheader-client-ca-file="+cfg.CertFile(CertFrontProxyCA),
		"--requestheader-allowed-names="+FrontProxyClientCommonName,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+cfg.CertFile(CertFrontProxyClient),
		"--proxy-client-key-file="+cfg.KeyFile(CertFrontProxyClient),
		"--service-account-issuer="+cfg.ServiceAccountIssuer,
		"--service-account-key-file="+cfg.ServiceAccountPublicKeyFile(),
		"--service-account-signing-key-file="+cfg.KeyFile(ServiceAccountKey),
		"--profiling=false",
	)
	// The "kubernetes" service's endpoints are not reconciled: each replica
	// has a port of its own behind the cluster's endpoint, and no pod network
	// reaches the control plane (a loopback address may not be an endpoint
	// at all).
	a = append(a, "--endpoint-reconciler-type=none")
	// A replica that stops (a rolling update, a delete) keeps serving for
	// 1 s with /readyz failing. A rolling update drains it from the
	// cluster's balancer first (lb.Balancer.Drain), so the delay only
	// covers connections being dialled; other stops rely on the
	// balancer's 1 s health checks, and a connection that meets a closed
	// port is dialled to another replica. Requests still coming on its
	// open connections then get a 429 with Retry-After (clients retry it
	// through the balancer) until its requests in flight and watches (1 s
	// grace) drained; then it sends GOAWAY and closes its listener
	// (components.untilStoppedListening). bench/upgradebench: 0 failed
	// calls; without these flags the shutdown waits out
	// components.ShutdownTimeout.
	a = append(a, "--shutdown-delay-duration=1s", "--shutdown-send-retry-after=true", "--shutdown-watch-termination-grace-period=1s")
	// Webhooks and aggregated APIs served by pods are called at their
	// Service's endpoints (pod IP:port), not its ClusterIP: kube-proxy's
	// rules live in the nodes' namespaces, while the apiserver reaches the
	// VPC through kplane's egress proxy, which dials node and pod addresses.
	// EKS's control plane reaches them the same way, from its ENIs in the VPC.
	a = append(a, "--enable-aggregator-routing=true")
	if cfg.KMSSocket != "" {
		a = append(a, "--encryption-provider-config="+cfg.EncryptionConfigPath())
	}
	if cfg.LogEnabled(LogTypeAudit) {
		a = append(a,
			"--audit-policy-file="+cfg.AuditPolicyPath(),
			"--audit-log-path="+cfg.LogFile(LogTypeAudit),
			"--audit-log-format=json",
			"--audit-log-maxsize=100",
			"--audit-log-maxbackup=2",
		)
	}
	return append(a, cfg.ExtraAPIServerArgs...)
}

// ControllerManagerArgs returns kube-controller-manager's flags for cfg.
// It does not serve HTTPS (--secure-port=0): the child process supervises it.
func ControllerManagerArgs(cfg ClusterConfig) []string {
	cfg = cfg.withDefaults()
	a := []string{
		"--kubeconfig=" + cfg.KubeconfigPath(UserControllerManager),
		"--secure-port=0",
		"--cluster-name=" + cfg.Name,
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + cfg.CertFile(CertCA),
		"--cluster-signing-key-file=" + cfg.KeyFile(CertCA),
		"--root-ca-file=" + cfg.CertFile(CertCA),
		"--service-account-private-key-file=" + cfg.KeyFile(ServiceAccountKey),
		"--service-cluster-ip-range=" + cfg.ServiceCIDR,
		"--profiling=false",
		// Its default, /usr/libexec/kubernetes/kubelet-plugins/volume/exec,
		// is the host's, and the prober creates it.
		"--flex-volume-plugin-dir=" + filepath.Join(cfg.ProcessDir(), "flexvolume"),
		// The default client limit (20 qps, burst 30) throttles start-up:
		// every controller creates its ServiceAccount and requests a token
		// one after another, which took ~5.5 s of each create. 200/300
		// brings /readyz -> default ServiceAccount to ~0.6 s
		// (bench/controlplanebench -cm-args, docs/benchmarks.md).
		"--kube-api-qps=200",
		"--kube-api-burst=300",
	}
	a = append(a, leaderElectionArgs...)
	return append(a, cfg.ExtraControllerManagerArgs...)
}

// SchedulerArgs returns kube-scheduler's flags for cfg (no HTTPS serving).
func SchedulerArgs(cfg ClusterConfig) []string {
	cfg = cfg.withDefaults()
	a := []string{
		"--kubeconfig=" + cfg.KubeconfigPath(UserScheduler),
		"--secure-port=0",
		"--profiling=false",
	}
	a = append(a, leaderElectionArgs...)
	return a
}

// BuildProcessSpec turns cfg into the child's ProcessSpec (no file I/O).
func BuildProcessSpec(cfg ClusterConfig) ProcessSpec {
	cfg = cfg.withDefaults()
	spec := ProcessSpec{
		ClusterID:         cfg.ID,
		KubernetesVersion: cfg.KubernetesVersion,
		APIServerArgs:     APIServerArgs(cfg),
		ReadyzURL:         cfg.LocalEndpoint() + "/readyz",
		CAFile:            cfg.CertFile(CertCA),
		ClientCertFile:    cfg.CertFile(CertControllerManager),
		ClientKeyFile:     cfg.KeyFile(CertControllerManager),
		GOGC:              DefaultGOGC,
		StartupGOGC:       DefaultStartupGOGC,
		MemoryLimitBytes:  DefaultMemoryLimitBytes,
	}
	if !cfg.APIServerOnly {
		spec.ControllerManagerArgs = ControllerManagerArgs(cfg)
		spec.SchedulerArgs = SchedulerArgs(cfg)
		spec.AdminCertFile, spec.AdminKeyFile = cfg.CertFile(CertAdmin), cfg.KeyFile(CertAdmin)
	}
	if cfg.GOGC != 0 {
		spec.GOGC = cfg.GOGC // negative: Go's default (the child leaves it alone)
	}
	if cfg.MemoryLimitBytes != 0 {
		spec.MemoryLimitBytes = max(cfg.MemoryLimitBytes, 0)
	}
	if cfg.LogEnabled(LogTypeAPI) {
		spec.APIServerLogFile = cfg.LogFile(LogTypeAPI)
	}
	if cfg.LogEnabled(LogTypeControllerManager) {
		spec.ControllerManagerLogFile = cfg.LogFile(LogTypeControllerManager)
	}
	if cfg.LogEnabled(LogTypeScheduler) {
		spec.SchedulerLogFile = cfg.LogFile(LogTypeScheduler)
	}
	return spec
}

// Prepare validates cfg and writes everything the child needs into cfg.Dir:
// PKI (EnsurePKI), kubeconfigs, the audit policy, logs/ and spec.json. It is
// idempotent and returns the spec and the PKI.
func Prepare(cfg ClusterConfig) (ProcessSpec, *PKI, error) {
	if err := cfg.Validate(); err != nil {
		return ProcessSpec{}, nil, fmt.Errorf("cluster %s: %w", cfg.ID, err)
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(filepath.Join(cfg.ProcessDir(), "logs"), 0o700); err != nil {
		return ProcessSpec{}, nil, err
	}
	pki, err := EnsurePKI(cfg)
	if err != nil {
		return ProcessSpec{}, nil, err
	}
	if err := writeKubeconfigs(cfg); err != nil {
		return ProcessSpec{}, nil, err
	}
	if err := fileutil.WriteFileIfChanged(cfg.AuditPolicyPath(), []byte(auditPolicy), 0o600); err != nil {
		return ProcessSpec{}, nil, err
	}
	if cfg.KMSSocket != "" {
		if err := fileutil.WriteFileIfChanged(cfg.EncryptionConfigPath(), []byte(encryptionConfig(cfg.KMSSocket)), 0o600); err != nil {
			return ProcessSpec{}, nil, err
		}
	}
	spec := BuildProcessSpec(cfg)
	if err := WriteProcessSpec(cfg.ProcessDir(), spec); err != nil {
		return ProcessSpec{}, nil, err
	}
	return spec, pki, nil
}
