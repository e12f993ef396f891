package node

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kplane/kplane/internal/fileutil"
)

// SandboxImage is the pod sandbox (pause) image kplane builds and imports
// into every node (see PauseImage); the runtime never pulls it.
const SandboxImage = "kplane.local/pause:1"

// CNIBinDir is where Debian's containernetworking-plugins installs plugins.
const CNIBinDir = "/usr/lib/cni"

// kubeletConfig is the node's KubeletConfiguration (kubelet.config.k8s.io/v1beta1).
func kubeletConfig(spec Spec, p Paths, cgroupRoot string) ([]byte, error) {
	maxPods := spec.MaxPods
	if maxPods == 0 {
		maxPods = 110
	}
	cfg := map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		// This machine's kind of host is cgroup v1 (hybrid); kubelet 1.37
		// refuses v1 unless told.
		"failCgroupV1": false,
		"cgroupDriver": "cgroupfs",
		"cgroupRoot":   cgroupRoot,
		// No systemd here, and swap is the host's business.
		"failSwapOn": false,
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": spec.CAFile},
		},
		"authorization":     map[string]any{"mode": "Webhook"},
		"tlsCertFile":       spec.ServingCertFile,
		"tlsPrivateKeyFile": spec.ServingKeyFile,
		"providerID":        spec.ProviderID,
		"maxPods":           maxPods,
		"clusterDomain":     orDefault(spec.ClusterDomain, "cluster.local"),
		"clusterDNS":        spec.ClusterDNS,
		// The values the kubelet wants are in the files bound over these
		// /proc/sys entries (see sysctlOverrides): it checks and writes
		// nothing of the host's.
		"protectKernelDefaults": false,
		// Many nodes share one disk and its free space: evict on real
		// shortage only, so one busy disk does not taint every node.
		"evictionHard": map[string]string{
			"memory.available":  "50Mi",
			"nodefs.available":  "1%",
			"imagefs.available": "1%",
			"nodefs.inodesFree": "1%",
		},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"podLogsDir":                  "/var/log/pods",
		"resolvConf":                  "/etc/resolv.conf",
		"serializeImagePulls":         false,
		"registerNode":                true,
		"containerRuntimeEndpoint":    "unix://" + p.Socket(),
		"port":                        10250,
		"readOnlyPort":                0,
		"healthzBindAddress":          "127.0.0.1",
		"healthzPort":                 10248,
		"staticPodPath":               "",
		"nodeStatusReportFrequency":   "1m",
		// The default, /usr/libexec/kubernetes/kubelet-plugins/volume/exec,
		// is the host's, and the kubelet creates it.
		"volumePluginDir": p.join("volume-plugins"),
		// kplane restarts the agent when it issues a new serving
		// certificate, so the kubelet need not watch the files: that watch
		// takes one of root's few inotify instances (see KubeProxyArgs).
		"featureGates":        map[string]bool{"ReloadKubeletServerCertificateFile": false},
		"shutdownGracePeriod": "0s",
	}
	if len(spec.Taints) > 0 {
		var taints []map[string]string
		for _, t := range spec.Taints {
			taints = append(taints, map[string]string{"key": t.Key, "value": t.Value, "effect": t.Effect})
		}
		cfg["registerWithTaints"] = taints
	}
	return yaml.Marshal(cfg)
}

// KubeletArgs are the kubelet's flags (those not in its config file).
func KubeletArgs(spec Spec, p Paths) []string {
	args := []string{
		"--config=" + p.KubeletConfig(),
		"--kubeconfig=" + p.KubeletKubeconfig(),
		"--hostname-override=" + spec.Name,
		"--node-ip=" + spec.NodeIP,
		"--v=1",
	}
	if len(spec.Labels) > 0 {
		keys := make([]string, 0, len(spec.Labels))
		for k := range spec.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+spec.Labels[k])
		}
		args = append(args, "--node-labels="+strings.Join(kv, ","))
	}
	return args
}

// kubeconfig is the kubelet's kubeconfig, or kube-proxy's (with its own
// certificate when the spec has one).
func kubeconfig(spec Spec, proxy bool) ([]byte, error) {
	ca, err := os.ReadFile(spec.CAFile)
	if err != nil {
		return nil, err
	}
	user := map[string]any{}
	if spec.NodeRoleToken != nil {
		user["tokenFile"] = spec.NodeRoleToken.TokenFile
	} else if spec.Exec != nil {
		var env []map[string]string
		keys := make([]string, 0, len(spec.Exec.Env))
		for k := range spec.Exec.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, map[string]string{"name": k, "value": spec.Exec.Env[k]})
		}
		user["exec"] = map[string]any{
			"apiVersion":      "client.authentication.k8s.io/v1beta1",
			"command":         spec.Exec.Command,
			"args":            spec.Exec.Args,
			"env":             env,
			"interactiveMode": "Never",
		}
	} else {
		user["client-certificate"] = spec.ClientCertFile
		user["client-key"] = spec.ClientKeyFile
	}
	if proxy && spec.KubeProxyCertFile != "" {
		user = map[string]any{"client-certificate": spec.KubeProxyCertFile, "client-key": spec.KubeProxyKeyFile}
	}
	cfg := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{"name": "cluster", "cluster": map[string]any{
			"server":                     spec.APIServerURL,
			"certificate-authority-data": base64.StdEncoding.EncodeToString(ca),
		}}},
		"users":           []any{map[string]any{"name": "node", "user": user}},
		"contexts":        []any{map[string]any{"name": "node", "context": map[string]any{"cluster": "cluster", "user": "node"}}},
		"current-context": "node",
	}
	return yaml.Marshal(cfg)
}

// containerdConfig is containerd 1.6's config (version 2): everything under
// DIR, the CRI plugin with kplane's sandbox image, CNI from DIR, registry
// hosts from spec's RegistryConfigDir.
func containerdConfig(spec Spec, p Paths) []byte {
	return []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This host cannot lower oom_score_adj (no CAP_SYS_RESOURCE): without
  # this, runc fails every sandbox ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, p.ContainerdRoot(), p.ContainerdState(), p.Socket(), p.Socket()+".ttrpc",
		p.join("containerd", "opt"), SandboxImage, CNIBinDir, p.CNIConfDir(),
		orDefault(spec.RegistryConfigDir, DefaultRegistryConfigDir)))
}

// containerdEnv is containerd's environment: this process's, with spec's
// registry proxy in place of any proxy setting it inherited. Go's (and so
// containerd's) HTTP client reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
func containerdEnv(spec Spec, inherited []string) []string {
	if spec.RegistryProxy == nil {
		return inherited
	}
	env := make([]string, 0, len(inherited)+3)
	for _, kv := range inherited {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HTTP_PROXY="+spec.RegistryProxy.URL,
		"HTTPS_PROXY="+spec.RegistryProxy.URL,
		"NO_PROXY="+strings.Join(spec.RegistryProxy.NoProxy, ","))
}

// cniConfig is the node's CNI network: a bridge with host-local IPAM over
// the node's pod CIDR, portmap for hostPort, and the loopback plugin that
// containerd runs for every pod. No masquerade (ipMasq false): the VPC
// routes every node's pod CIDR to it (internal/nodenet), so pods reach pods
// on other nodes, and answer the apiserver's calls to webhooks, with their
// own addresses, as with EKS's VPC CNI; and a packet for anything else has
// nowhere to go (the VPC's namespace has no default route), NAT or not.
func cniConfig(spec Spec) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kplane",
		"plugins": []any{
			map[string]any{
				"type":         "bridge",
				"bridge":       "cni0",
				"isGateway":    true,
				"ipMasq":       false,
				"hairpinMode":  true,
				"promiscMode":  false,
				"forceAddress": false,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": spec.PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": "/var/lib/cni/networks",
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// KubeProxyArgs are kube-proxy's flags. Its settings are flags, not a
// --config file: kube-proxy watches a config file with an inotify instance
// of its own (to exit when it changes), and root's instances are few
// (fs.inotify.max_user_instances, 128 by default) and shared by every node.
func KubeProxyArgs(spec Spec, p Paths) []string {
	return []string{
		"--proxy-mode=" + spec.ProxyMode,
		"--hostname-override=" + spec.Name,
		"--cluster-cidr=" + orDefault(spec.ClusterCIDR, spec.PodCIDR),
		"--kubeconfig=" + p.KubeProxyKubeconfig(),
		// conntrack's limits are host-global sysctls on this kernel: leave
		// them alone (0 = do not set).
		"--conntrack-max-per-core=0",
		"--conntrack-min=0",
		"--conntrack-tcp-timeout-established=0s",
		"--conntrack-tcp-timeout-close-wait=0s",
		"--bind-address=" + spec.NodeIP,
		"--healthz-bind-address=127.0.0.1:10256",
		"--metrics-bind-address=127.0.0.1:10249",
		"--nodeport-addresses=primary",
		"--v=1",
	}
}

// WriteConfigs writes every component's configuration for spec under DIR.
func WriteConfigs(spec Spec, p Paths, cgroupRoot string) error {
	kc, err := kubeconfig(spec, false)
	if err != nil {
		return err
	}
	kubelet, err := kubeletConfig(spec, p, cgroupRoot)
	if err != nil {
		return err
	}
	cni, err := cniConfig(spec)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		p.KubeletKubeconfig():                        kc,
		p.KubeletConfig():                            kubelet,
		p.ContainerdConfig():                         containerdConfig(spec, p),
		p.join("cni", "net.d", "10-kplane.conflist"): cni,
	}
	if spec.ProxyMode != "" {
		var err error
		if files[p.KubeProxyKubeconfig()], err = kubeconfig(spec, true); err != nil {
			return err
		}
	}
	for name, b := range files {
		if err := os.MkdirAll(dirOf(name), 0o700); err != nil {
			return err
		}
		if err := fileutil.WriteFileIfChanged(name, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func dirOf(name string) string {
	i := strings.LastIndex(name, "/")
	if i <= 0 {
		return "/"
	}
	return name[:i]
}
