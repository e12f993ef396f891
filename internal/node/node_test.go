package node

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestPauseProgramIsAStaticELF(t *testing.T) {
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		b, err := pauseProgram(arch)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Machine != machine || f.Type != elf.ET_EXEC || len(f.Progs) != 1 {
			t.Errorf("%s: machine %v type %v progs %d", arch, f.Machine, f.Type, len(f.Progs))
		}
		p := f.Progs[0]
		if p.Type != elf.PT_LOAD || p.Flags != elf.PF_R|elf.PF_X || f.Entry < p.Vaddr || f.Entry >= p.Vaddr+p.Memsz {
			t.Errorf("%s: segment %+v, entry %#x outside it", arch, p.ProgHeader, f.Entry)
		}
		if _, err := f.DynamicSymbols(); err == nil {
			t.Errorf("%s: dynamic symbols in a static program", arch)
		}
	}
	if _, err := pauseProgram("s390x"); err == nil {
		t.Error("s390x: want an error")
	}
}

func TestPauseImageIsReproducible(t *testing.T) {
	a, err := PauseImage()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PauseImage()
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds differ: %s %s", da, db)
	}
	cf, _ := a.ConfigFile()
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/pause" || cf.OS != "linux" {
		t.Errorf("config %+v", cf.Config)
	}
	archive := filepath.Join(t.TempDir(), "pause.tar")
	if err := WriteImageArchive(archive, SandboxImage, a); err != nil {
		t.Fatal(err)
	}
}

func validSpec(dir string) Spec {
	return Spec{
		Name: "ip-10-0-1-10.us-west-2.compute.internal", NodeIP: "10.0.1.10", NetNSPath: "/run/netns/x",
		PodCIDR: "10.244.1.0/24", APIServerURL: "https://127.0.0.1:6443", CAFile: filepath.Join(dir, "ca.crt"),
		ClientCertFile: "c", ClientKeyFile: "k", ServingCertFile: "s", ServingKeyFile: "sk",
		ProviderID: "aws:///us-west-2a/i-1", Labels: map[string]string{"b": "2", "a": "1"},
		Taints: []Taint{{Key: "k", Value: "v", Effect: "NoSchedule"}}, ProxyMode: "iptables",
	}
}

func TestSpecValidate(t *testing.T) {
	if err := validSpec("/d").Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Spec){
		"no name":        func(s *Spec) { s.Name = "" },
		"bad ip":         func(s *Spec) { s.NodeIP = "x" },
		"bad cidr":       func(s *Spec) { s.PodCIDR = "10.0.0.0" },
		"two creds":      func(s *Spec) { s.Exec = &ExecConfig{Command: "aws"} },
		"cert and token": func(s *Spec) { s.NodeRoleToken = &NodeRoleToken{TokenFile: "t"} },
		"no creds":       func(s *Spec) { s.ClientCertFile = "" },
		"bad mode":       func(s *Spec) { s.ProxyMode = "ipvs" },
		"rel cgroup":     func(s *Spec) { s.CgroupRoot = "kplane" },
		"no netns":       func(s *Spec) { s.NetNSPath = "" },
		"slash in name":  func(s *Spec) { s.Name = "a/b" },
		"proxy not http": func(s *Spec) { s.RegistryProxy = &RegistryProxy{URL: "socks5://127.0.0.1:1"} },
		"rel hosts dir":  func(s *Spec) { s.RegistryConfigDir = "certs.d" },
	} {
		s := validSpec("/d")
		mut(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWriteConfigs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := validSpec(dir)
	p := Paths{Dir: dir}
	if err := WriteConfigs(spec, p, "/x/kplane/n"); err != nil {
		t.Fatal(err)
	}
	var kc map[string]any
	b, _ := os.ReadFile(p.KubeletConfig())
	if err := yaml.Unmarshal(b, &kc); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"failCgroupV1": false, "cgroupDriver": "cgroupfs", "cgroupRoot": "/x/kplane/n", "providerID": spec.ProviderID} {
		if kc[k] != want {
			t.Errorf("kubelet %s = %v, want %v", k, kc[k], want)
		}
	}
	if a := kc["authentication"].(map[string]any)["anonymous"].(map[string]any)["enabled"]; a != false {
		t.Errorf("anonymous auth %v", a)
	}
	if m := kc["authorization"].(map[string]any)["mode"]; m != "Webhook" {
		t.Errorf("authorization mode %v", m)
	}
	args := strings.Join(KubeletArgs(spec, p), " ")
	if !strings.Contains(args, "--node-labels=a=1,b=2") || !strings.Contains(args, "--node-ip=10.0.1.10") {
		t.Errorf("kubelet args %s", args)
	}
	cd, _ := os.ReadFile(p.ContainerdConfig())
	for _, want := range []string{"restrict_oom_score_adj = true", `sandbox_image = "` + SandboxImage + `"`, p.Socket(), `config_path = "` + DefaultRegistryConfigDir + `"`} {
		if !bytes.Contains(cd, []byte(want)) {
			t.Errorf("containerd config lacks %s", want)
		}
	}
	var cni struct {
		Plugins []map[string]any `json:"plugins"`
	}
	b, _ = os.ReadFile(filepath.Join(p.CNIConfDir(), "10-kplane.conflist"))
	if err := json.Unmarshal(b, &cni); err != nil || len(cni.Plugins) == 0 {
		t.Fatalf("CNI config: %v: %s", err, b)
	}
	// Pods keep their own addresses across nodes: no masquerade.
	if bridge := cni.Plugins[0]; bridge["type"] != "bridge" || bridge["ipMasq"] != false {
		t.Errorf("CNI bridge plugin %v: want type bridge, ipMasq false", bridge)
	}
	if ipam, _ := cni.Plugins[0]["ipam"].(map[string]any); fmt.Sprint(ipam["ranges"]) != fmt.Sprintf("[[map[subnet:%s]]]", spec.PodCIDR) {
		t.Errorf("CNI IPAM ranges %v, want the pod CIDR %s", ipam["ranges"], spec.PodCIDR)
	}
	if _, err := os.Stat(p.KubeProxyKubeconfig()); err != nil {
		t.Error(err)
	}
	kubeconfig, _ := os.ReadFile(p.KubeletKubeconfig())
	if !bytes.Contains(kubeconfig, []byte("client-certificate: c")) {
		t.Errorf("kubeconfig: %s", kubeconfig)
	}
}

// containerd gets the registry proxy in place of the proxy settings it
// would inherit; without one it keeps what it inherits (a joined machine's
// own settings).
func TestContainerdEnv(t *testing.T) {
	inherited := []string{"PATH=/bin", "https_proxy=http://corp:3128", "HTTP_PROXY=http://corp:3128", "no_proxy=corp"}
	spec := validSpec("/d")
	if got := containerdEnv(spec, inherited); !slices.Equal(got, inherited) {
		t.Errorf("without a proxy: %v, want the inherited %v", got, inherited)
	}
	spec.RegistryProxy = &RegistryProxy{URL: "http://127.0.0.1:4000", NoProxy: []string{"127.0.0.1", "10.100.0.0/16"}}
	want := []string{"PATH=/bin", "HTTP_PROXY=http://127.0.0.1:4000", "HTTPS_PROXY=http://127.0.0.1:4000", "NO_PROXY=127.0.0.1,10.100.0.0/16"}
	if got := containerdEnv(spec, inherited); !slices.Equal(got, want) {
		t.Errorf("with a proxy: %v, want %v", got, want)
	}
}

func TestCheckNamesThePackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Check(validSpec("/d"), Paths{Dir: "/var/lib/kplane/n"})
	if err == nil {
		t.Fatal("no error without containerd on PATH")
	}
	for _, want := range []string{"apt-get install -y containerd", "apt-get install -y runc", "apt-get install -y iptables", "may not be under /var/lib"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestExecCredentialKubeconfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := validSpec(dir)
	spec.ClientCertFile, spec.ClientKeyFile = "", ""
	spec.Exec = &ExecConfig{Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", "c"}, Env: map[string]string{"AWS_REGION": "us-west-2"}}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := kubeconfig(spec, false)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Users []struct {
			User struct {
				Exec struct {
					APIVersion string `json:"apiVersion"`
					Command    string
					Args       []string
					Env        []struct{ Name, Value string }
				}
				ClientCertificate string `json:"client-certificate"`
			}
		}
	}
	if err := yaml.Unmarshal(b, &kc); err != nil {
		t.Fatal(err)
	}
	u := kc.Users[0].User
	if u.Exec.Command != "aws" || len(u.Exec.Args) != 4 || u.Exec.APIVersion != "client.authentication.k8s.io/v1beta1" ||
		len(u.Exec.Env) != 1 || u.Exec.Env[0].Name != "AWS_REGION" || u.ClientCertificate != "" {
		t.Errorf("kubeconfig user %+v from:\n%s", u, b)
	}
}
