//go:build e2e

package e2e

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTerraformEKSDefaultPath replays, call by call with the aws CLI, what the
// terraform-aws-eks module's default path sends (with the reads terraform's
// AWS provider makes after each create), then terraform's destroy order:
// detach, then delete. Afterwards every list shows nothing of it.
func TestTerraformEKSDefaultPath(t *testing.T) {
	k := startKplane(t)
	const name = "tfex"
	const account = "arn:aws:iam::000000000000:"
	// q runs one aws call and returns its --query answer as a string.
	q := func(query string, args ...string) string {
		t.Helper()
		var s string
		mustUnmarshal(t, k.mustAWS(append(args, "--query", query)...), &s)
		return s
	}
	qList := func(query string, args ...string) []string {
		t.Helper()
		var list []string
		mustUnmarshal(t, k.mustAWS(append(args, "--query", query)...), &list)
		return list
	}

	// Cluster IAM role, its managed policy, the KMS key (terraform-aws-kms)
	// and the cluster-encryption policy attached to the role.
	clusterRole := q("Role.Arn", "iam", "create-role", "--role-name", name+"-cluster",
		"--assume-role-policy-document", `{"Version":"2012-10-17","Statement":[{"Sid":"EKSClusterAssumeRole","Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`,
		"--tags", "Key=terraform,Value=true")
	k.mustAWS("iam", "attach-role-policy", "--role-name", name+"-cluster", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
	keyPolicy := `{"Version":"2012-10-17","Statement":[{"Sid":"Default","Effect":"Allow","Principal":{"AWS":"` + account + `root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"KeyUsage","Effect":"Allow","Principal":{"AWS":"` + clusterRole + `"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}`
	key := q("KeyMetadata.Arn", "kms", "create-key", "--description", name+" cluster encryption key", "--key-usage", "ENCRYPT_DECRYPT",
		"--customer-master-key-spec", "SYMMETRIC_DEFAULT", "--policy", keyPolicy, "--tags", "TagKey=terraform,TagValue=true")
	k.mustAWS("kms", "enable-key-rotation", "--key-id", key)
	var rotation struct{ KeyRotationEnabled bool }
	mustUnmarshal(t, k.mustAWS("kms", "get-key-rotation-status", "--key-id", key), &rotation)
	if got := q("Policy", "kms", "get-key-policy", "--key-id", key, "--policy-name", "default"); got != keyPolicy || !rotation.KeyRotationEnabled {
		t.Fatalf("key policy %s, rotation %v: not what create-key and enable-key-rotation set", got, rotation.KeyRotationEnabled)
	}
	k.mustAWS("kms", "create-alias", "--alias-name", "alias/eks/"+name, "--target-key-id", key)
	encPolicy := q("Policy.Arn", "iam", "create-policy", "--policy-name", name+"-cluster-ClusterEncryption",
		"--description", "Cluster encryption policy to allow cluster role to utilize CMK provided",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ListGrants","kms:DescribeKey"],"Resource":"`+key+`"}]}`)
	k.mustAWS("iam", "attach-role-policy", "--role-name", name+"-cluster", "--policy-arn", encPolicy)
	k.mustAWS("logs", "create-log-group", "--log-group-name", "/aws/eks/"+name+"/cluster")
	k.mustAWS("logs", "put-retention-policy", "--log-group-name", "/aws/eks/"+name+"/cluster", "--retention-in-days", "90")

	// Security groups: terraform revokes the default egress rule of each, then
	// adds the module's rules.
	vpc := q("Vpcs[0].VpcId", "ec2", "describe-vpcs")
	clusterSG := q("GroupId", "ec2", "create-security-group", "--group-name", name+"-cluster", "--description", "EKS cluster security group",
		"--vpc-id", vpc, "--tag-specifications", "ResourceType=security-group,Tags=[{Key=Name,Value="+name+"-cluster}]")
	nodeSG := q("GroupId", "ec2", "create-security-group", "--group-name", name+"-node", "--description", "EKS node shared security group",
		"--vpc-id", vpc, "--tag-specifications", "ResourceType=security-group,Tags=[{Key=Name,Value="+name+"-node}]")
	for _, g := range []string{clusterSG, nodeSG} {
		k.mustAWS("ec2", "revoke-security-group-egress", "--group-id", g, "--ip-permissions", `[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]`)
	}
	fromGroup := func(proto string, port int, group, desc string) string {
		b, _ := json.Marshal([]map[string]any{{"IpProtocol": proto, "FromPort": port, "ToPort": port,
			"UserIdGroupPairs": []map[string]string{{"GroupId": group, "Description": desc}}}})
		return string(b)
	}
	k.mustAWS("ec2", "authorize-security-group-ingress", "--group-id", clusterSG, "--ip-permissions", fromGroup("tcp", 443, nodeSG, "Node groups to cluster API"))
	for _, port := range []int{443, 4443, 6443, 8443, 9443, 10250} {
		k.mustAWS("ec2", "authorize-security-group-ingress", "--group-id", nodeSG, "--ip-permissions", fromGroup("tcp", port, clusterSG, "Cluster API to node groups"))
	}
	k.mustAWS("ec2", "authorize-security-group-ingress", "--group-id", nodeSG, "--ip-permissions", fromGroup("tcp", 53, nodeSG, "Node to node CoreDNS"))
	k.mustAWS("ec2", "authorize-security-group-ingress", "--group-id", nodeSG, "--ip-permissions", fromGroup("udp", 53, nodeSG, "Node to node CoreDNS UDP"))
	k.mustAWS("ec2", "authorize-security-group-ingress", "--group-id", nodeSG, "--ip-permissions",
		`[{"IpProtocol":"tcp","FromPort":1025,"ToPort":65535,"UserIdGroupPairs":[{"GroupId":"`+nodeSG+`","Description":"Node to node ingress on ephemeral ports"}]}]`)
	k.mustAWS("ec2", "authorize-security-group-egress", "--group-id", nodeSG, "--ip-permissions",
		`[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0","Description":"Allow all egress"}],"Ipv6Ranges":[{"CidrIpv6":"::/0","Description":"Allow all egress"}]}]`)
	if n := len(qList("SecurityGroupRules[].SecurityGroupRuleId", "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+nodeSG)); n != 11 {
		t.Fatalf("node security group has %d rules, want 11 (9 ingress, 2 egress)", n)
	}

	// The cluster, encrypted with the key, logging to the group made above.
	k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", clusterRole,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs()+",securityGroupIds="+clusterSG+",endpointPublicAccess=true,endpointPrivateAccess=true",
		"--encryption-config", `[{"resources":["secrets"],"provider":{"keyArn":"`+key+`"}}]`,
		"--logging", `{"clusterLogging":[{"types":["api","audit","authenticator"],"enabled":true}]}`,
		"--access-config", "authenticationMode=API_AND_CONFIG_MAP,bootstrapClusterCreatorAdminPermissions=false",
		"--kubernetes-network-config", "ipFamily=ipv4", "--tags", "terraform=true")
	c, took := k.waitActive(name, 8*time.Minute)
	t.Logf("cluster %s ACTIVE %v after create-cluster", name, took.Round(time.Millisecond))
	if got := q("cluster.encryptionConfig[0].provider.keyArn", "eks", "describe-cluster", "--name", name); got != key {
		t.Fatalf("cluster encryption key %q, want %s", got, key)
	}
	primarySG := q("cluster.resourcesVpcConfig.clusterSecurityGroupId", "eks", "describe-cluster", "--name", name)
	k.mustAWS("ec2", "create-tags", "--resources", primarySG, "--tags", "Key=terraform,Value=true")
	k.mustAWS("eks", "create-access-entry", "--cluster-name", name, "--principal-arn", account+"root", "--type", "STANDARD")
	k.mustAWS("eks", "associate-access-policy", "--cluster-name", name, "--principal-arn", account+"root",
		"--policy-arn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", "--access-scope", "type=cluster")

	// IRSA: tls_certificate reads the issuer's chain (kplane's CA trusted), the
	// provider is created with url = identity.oidc.issuer and the root's SHA-1.
	issuer := c.Identity.OIDC.Issuer
	provider := q("OpenIDConnectProviderArn", "iam", "create-open-id-connect-provider", "--url", issuer,
		"--client-id-list", "sts.amazonaws.com", "--thumbprint-list", rootThumbprint(t, k, issuer), "--tags", "Key=Name,Value="+name+"-eks-irsa")

	// The managed node group's role, launch template and AMI release version.
	k.mustAWS("iam", "create-role", "--role-name", name+"-node", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":[{"Sid":"EKSNodeAssumeRole","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	nodePolicies := []string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}
	for _, p := range nodePolicies {
		k.mustAWS("iam", "attach-role-policy", "--role-name", name+"-node", "--policy-arn", "arn:aws:iam::aws:policy/"+p)
	}
	if n := len(qList("AttachedPolicies[].PolicyArn", "iam", "list-attached-role-policies", "--role-name", name+"-node")); n != 3 {
		t.Fatalf("node role has %d attached policies, want 3", n)
	}
	lt := q("LaunchTemplate.LaunchTemplateId", "ec2", "create-launch-template", "--launch-template-name", name+"-ng",
		"--version-description", "Custom launch template for ng EKS managed node group", "--launch-template-data",
		`{"MetadataOptions":{"HttpEndpoint":"enabled","HttpTokens":"required","HttpPutResponseHopLimit":2},"Monitoring":{"Enabled":true},`+
			`"SecurityGroupIds":["`+nodeSG+`"],"TagSpecifications":[{"ResourceType":"instance","Tags":[{"Key":"Name","Value":"ng"}]},`+
			`{"ResourceType":"volume","Tags":[{"Key":"Name","Value":"ng"}]},{"ResourceType":"network-interface","Tags":[{"Key":"Name","Value":"ng"}]}]}`,
		"--tag-specifications", "ResourceType=launch-template,Tags=[{Key=terraform,Value=true}]")
	version := q("cluster.version", "eks", "describe-cluster", "--name", name)
	release := q("Parameter.Value", "ssm", "get-parameter", "--name",
		"/aws/service/eks/optimized-ami/"+version+"/amazon-linux-2023/x86_64/standard/recommended/release_version")
	if !strings.HasPrefix(release, version+".") {
		t.Fatalf("release_version %q is not of Kubernetes %s", release, version)
	}

	// terraform destroy: dependents first, each attachment detached before
	// what it joins is deleted.
	k.mustAWS("ec2", "delete-launch-template", "--launch-template-id", lt)
	for _, p := range nodePolicies {
		k.mustAWS("iam", "detach-role-policy", "--role-name", name+"-node", "--policy-arn", "arn:aws:iam::aws:policy/"+p)
	}
	k.mustAWS("iam", "delete-role", "--role-name", name+"-node")
	k.mustAWS("iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", provider)
	k.mustAWS("eks", "disassociate-access-policy", "--cluster-name", name, "--principal-arn", account+"root",
		"--policy-arn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
	k.mustAWS("eks", "delete-access-entry", "--cluster-name", name, "--principal-arn", account+"root")
	k.mustAWS("eks", "delete-cluster", "--name", name)
	k.waitGone(name)
	for _, p := range []string{"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", encPolicy} {
		k.mustAWS("iam", "detach-role-policy", "--role-name", name+"-cluster", "--policy-arn", p)
	}
	k.mustAWS("iam", "delete-role", "--role-name", name+"-cluster")
	k.mustAWS("iam", "delete-policy", "--policy-arn", encPolicy)
	for _, g := range []string{clusterSG, nodeSG} {
		for _, r := range qList("SecurityGroupRules[?!IsEgress].SecurityGroupRuleId", "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+g) {
			k.mustAWS("ec2", "revoke-security-group-ingress", "--group-id", g, "--security-group-rule-ids", r)
		}
	}
	k.mustAWS("ec2", "delete-security-group", "--group-id", nodeSG)
	k.mustAWS("ec2", "delete-security-group", "--group-id", clusterSG)
	k.mustAWS("logs", "delete-log-group", "--log-group-name", "/aws/eks/"+name+"/cluster")
	k.mustAWS("kms", "delete-alias", "--alias-name", "alias/eks/"+name)
	if got := q("KeyState", "kms", "schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7"); got != "PendingDeletion" {
		t.Fatalf("schedule-key-deletion: %s", got)
	}

	// Nothing of it is left.
	for _, check := range []struct {
		what  string
		query string
		args  []string
	}{
		{"roles", "Roles[?starts_with(RoleName, 'tfex')].RoleName", []string{"iam", "list-roles"}},
		{"customer policies", "Policies[].Arn", []string{"iam", "list-policies", "--scope", "Local"}},
		{"OIDC providers", "OpenIDConnectProviderList[].Arn", []string{"iam", "list-open-id-connect-providers"}},
		{"security groups", "SecurityGroups[?starts_with(GroupName, 'tfex')].GroupId", []string{"ec2", "describe-security-groups"}},
		{"security group rules", "SecurityGroupRules[?GroupId=='" + clusterSG + "' || GroupId=='" + nodeSG + "'].SecurityGroupRuleId", []string{"ec2", "describe-security-group-rules"}},
		{"launch templates", "LaunchTemplates[].LaunchTemplateId", []string{"ec2", "describe-launch-templates"}},
		{"clusters", "clusters", []string{"eks", "list-clusters"}},
		{"log groups", "logGroups[].logGroupName", []string{"logs", "describe-log-groups", "--log-group-name-prefix", "/aws/eks/" + name}},
		{"aliases", "Aliases[].AliasName", []string{"kms", "list-aliases"}},
	} {
		if left := qList(check.query, check.args...); len(left) != 0 {
			t.Errorf("%s left after destroy: %v", check.what, left)
		}
	}
	if got := q("KeyMetadata.KeyState", "kms", "describe-key", "--key-id", key); got != "PendingDeletion" {
		t.Errorf("key %s after destroy: %s, want PendingDeletion (KMS keeps it for the window)", key, got)
	}
}

// rootThumbprint is what terraform's tls_certificate gives as
// certificates[0].sha1_fingerprint for the issuer: the SHA-1 of the root of
// the chain the server sends, verified against kplane's CA.
func rootThumbprint(t *testing.T, k *kplane, issuer string) string {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(k.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, ServerName: u.Hostname()})
	if err != nil {
		t.Fatalf("TLS to the issuer %s with kplane's CA: %v", issuer, err)
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	sum := sha1.Sum(chain[len(chain)-1].Raw)
	return hex.EncodeToString(sum[:])
}
