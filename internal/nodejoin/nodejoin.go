// Package nodejoin is `kplane node join`: the node program of kplane's
// nodegroups (internal/node, `kplane node-run`), run on a machine kplane
// did not make, joins a kplane cluster as EKS Hybrid Nodes join EKS:
//
//   - credentials of the node role: the AWS SDK's (environment, shared
//     profile), assumed as --role-arn with the node name as session name
//     when given (nodeadm does the same through SSM or IAM Roles Anywhere);
//   - eks:DescribeCluster on kplane's EKS endpoint gives the cluster's
//     endpoint, CA, version and Service range;
//   - the kubelet authenticates with the node role's IAM token (`kplane node
//     token`, internal/nodecreds); the operator maps the role as for hybrid
//     nodes: a HYBRID_LINUX access entry or an aws-auth mapRoles entry with
//     username system:node:{{SessionName}}.
//
// The machine is not an instance of kplane's EC2 inventory, so there is no
// {{EC2PrivateDNSName}} to look up: the node's address is the one this host
// reaches kplane from (or --node-ip), and its name EC2's private DNS name
// of that address (or --node-name). The node runs in this process's network
// namespace (the machine's own), with the cgroups, mount namespace and
// containerd of the agent; it leaves when this process is told to stop.
package nodejoin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kplane/kplane/internal/fileutil"
	"github.com/kplane/kplane/internal/localnodes"
	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodecreds"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/pki"
	"github.com/kplane/kplane/internal/versions"
)

// Config of a joining node.
type Config struct {
	Cluster string
	// Endpoint is kplane's EKS API URL (what AWS_ENDPOINT_URL names).
	Endpoint string
	Region   string
	// Profile is the shared config profile of the credentials ("" = the
	// SDK's default chain: environment, then the default profile).
	Profile string
	// RoleArn is the node role to assume with the node name as session
	// name; "" = the credentials are the node's as they are.
	RoleArn string
	// NodeIP is the node's address; "" = the one this host reaches Endpoint from.
	NodeIP string
	// NodeName; "" = ip-A-B-C-D.REGION.compute.internal of NodeIP.
	NodeName string
	// Dir is the node's directory (kubelet, containerd, credentials).
	Dir string
	// PodCIDR is the node's pod range; "" = a /24 of 100.64.0.0/10 named
	// by NodeIP's last two bytes.
	PodCIDR string
	Labels  map[string]string
	// ProxyMode is kube-proxy's mode ("iptables", "nftables"; "" = no
	// kube-proxy). It runs with the kubelet's IAM identity, which the Node
	// authorizer does not let list EndpointSlices: the operator binds
	// system:node-proxier to the node (docs/nodes.md).
	ProxyMode string
	// Executable is the kplane binary (default os.Executable()).
	Executable string
	Log        *slog.Logger
	// Ready, if set, is called once the Node is Ready.
	Ready func(name string)
}

// credentialRefresh is how often the node role's credentials file is
// rewritten from the SDK's cache (which renews them before they expire).
const credentialRefresh = time.Minute

// Run joins the node and keeps it until ctx ends, then removes it: the
// agent and everything in its cgroups, its Node object, its directory.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Cluster == "" || cfg.Endpoint == "" || cfg.Dir == "" {
		return errors.New("the cluster name, kplane's endpoint and a node directory are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Executable = exe
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return err
	}
	cfg.Dir = dir
	opts := []func(*config.LoadOptions) error{config.WithBaseEndpoint(cfg.Endpoint)}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return err
	}
	if awsCfg.Region == "" {
		return errors.New("no region: give --region or AWS_REGION")
	}
	cfg.Region = awsCfg.Region
	if err := identify(&cfg); err != nil {
		return err
	}
	if cfg.RoleArn != "" {
		// Renewed 10 minutes before they expire: the file written each
		// minute never holds credentials about to lapse.
		awsCfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), cfg.RoleArn,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = cfg.NodeName; o.Duration = time.Hour }),
			func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 10 * time.Minute })
	}
	who, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("the node's credentials: %w", err)
	}
	cfg.Log.Info("joining", "cluster", cfg.Cluster, "node", cfg.NodeName, "ip", cfg.NodeIP, "as", aws.ToString(who.Arn))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeCredentials(ctx, awsCfg.Credentials, dir); err != nil {
		return err
	}
	spec, exe, err := nodeSpec(ctx, cfg, awsCfg)
	if err != nil {
		return err
	}
	if err := node.WriteSpec(dir, spec); err != nil {
		return err
	}
	go refreshCredentials(ctx, cfg.Log, awsCfg.Credentials, dir)
	err = runAgent(ctx, cfg, exe, spec)
	return errors.Join(err, leave(cfg, spec))
}

// identify fills in the node's address and name.
func identify(cfg *Config) error {
	if cfg.NodeIP == "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" {
			return fmt.Errorf("endpoint %q is not a URL", cfg.Endpoint)
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), map[string]string{"https": "443"}[u.Scheme]+map[string]string{"http": "80"}[u.Scheme])
		}
		// No packet is sent: connecting a UDP socket only picks the route.
		c, err := net.Dial("udp", host)
		if err != nil {
			return fmt.Errorf("finding this host's address towards %s: %w", cfg.Endpoint, err)
		}
		cfg.NodeIP = c.LocalAddr().(*net.UDPAddr).IP.String()
		c.Close()
	}
	ip, err := netip.ParseAddr(cfg.NodeIP)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("node address %q is not an IPv4 address", cfg.NodeIP)
	}
	if cfg.NodeName == "" {
		cfg.NodeName = nodegroup.PrivateDNSName(ip, cfg.Region)
	}
	if cfg.PodCIDR == "" {
		b := ip.As4()
		cfg.PodCIDR = fmt.Sprintf("100.%d.%d.0/24", 64+b[2]%64, b[3])
	}
	return nil
}

// nodeSpec reads the cluster (as the node role) and writes the node's CA,
// serving certificate and spec; exe runs the kubelet of the cluster's minor.
func nodeSpec(ctx context.Context, cfg Config, awsCfg aws.Config) (node.Spec, string, error) {
	out, err := eks.NewFromConfig(awsCfg).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cfg.Cluster)})
	if err != nil {
		return node.Spec{}, "", fmt.Errorf("describing cluster %s: %w", cfg.Cluster, err)
	}
	c := out.Cluster
	if c.Status != "ACTIVE" && c.Status != "UPDATING" || c.Endpoint == nil || c.CertificateAuthority == nil {
		return node.Spec{}, "", fmt.Errorf("cluster %s is %s: a node joins an ACTIVE cluster", cfg.Cluster, c.Status)
	}
	caPEM, err := base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	if err != nil {
		return node.Spec{}, "", fmt.Errorf("cluster CA: %w", err)
	}
	pkiDir := filepath.Join(cfg.Dir, "pki")
	caFile := filepath.Join(pkiDir, "ca.crt")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return node.Spec{}, "", err
	}
	if err := fileutil.WriteFileIfChanged(caFile, caPEM, 0o644); err != nil {
		return node.Spec{}, "", err
	}
	// The kubelet's serving certificate: no CA key leaves kplane, so the
	// node signs its own (kube-apiserver does not verify kubelets here,
	// as with a kubelet's self-signed default).
	nodeCA, err := pki.LoadOrCreateCA(filepath.Join(pkiDir, "node-ca.crt"), filepath.Join(pkiDir, "node-ca.key"), "kplane node "+cfg.NodeName)
	if err != nil {
		return node.Spec{}, "", err
	}
	serving := node.Certificates{ServingCertFile: filepath.Join(pkiDir, "kubelet-server.crt"), ServingKeyFile: filepath.Join(pkiDir, "kubelet-server.key")}
	if _, err := pki.LoadOrIssue(serving.ServingCertFile, serving.ServingKeyFile, nodeCA, pki.Spec{
		CommonName: "system:node:" + cfg.NodeName, Organization: []string{"system:nodes"},
		DNSNames: []string{cfg.NodeName}, IPs: []net.IP{net.ParseIP(cfg.NodeIP)}, Server: true,
	}); err != nil {
		return node.Spec{}, "", err
	}
	spec := node.Spec{
		Name: cfg.NodeName, NodeIP: cfg.NodeIP,
		// The agent is this process's child: this namespace lives as long as it.
		NetNSPath: fmt.Sprintf("/proc/%d/ns/net", os.Getpid()),
		PodCIDR:   cfg.PodCIDR, ClusterDomain: "cluster.local",
		APIServerURL: aws.ToString(c.Endpoint), CAFile: caFile,
		ServingCertFile: serving.ServingCertFile, ServingKeyFile: serving.ServingKeyFile,
		Exec: &node.ExecConfig{Command: cfg.Executable, Args: []string{"node", "token",
			"--credentials", nodecreds.Path(cfg.Dir), "--cluster", cfg.Cluster, "--region", cfg.Region}},
		Labels: cfg.Labels, ProxyMode: cfg.ProxyMode,
	}
	if c.KubernetesNetworkConfig != nil {
		if dns := localnodes.ClusterDNS(aws.ToString(c.KubernetesNetworkConfig.ServiceIpv4Cidr)); dns != "" {
			spec.ClusterDNS = []string{dns}
		}
	}
	exe, err := versions.Executable(cfg.Executable, aws.ToString(c.Version))
	return spec, exe, err
}

// writeCredentials writes the node role's current credentials where
// `kplane node token` reads them.
func writeCredentials(ctx context.Context, p aws.CredentialsProvider, dir string) error {
	c, err := p.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("the node's credentials: %w", err)
	}
	f := nodecreds.File{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	if c.CanExpire {
		f.Expiration = c.Expires
	}
	return nodecreds.Write(nodecreds.Path(dir), f)
}

func refreshCredentials(ctx context.Context, log *slog.Logger, p aws.CredentialsProvider, dir string) {
	t := time.NewTicker(credentialRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := writeCredentials(ctx, p, dir); err != nil && ctx.Err() == nil {
				log.Warn("renewing the node's credentials", "err", err)
			}
		}
	}
}
