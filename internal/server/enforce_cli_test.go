package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/server"
)

// cliEnv runs the real aws CLI against a kplane, with a profile per principal.
type cliEnv struct {
	t     *testing.T
	s     *testServer
	aws   string
	home  string
	creds string
}

func newCLIEnv(t *testing.T, s *testServer) *cliEnv {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	home := t.TempDir()
	e := &cliEnv{t: t, s: s, aws: awsPath, home: home, creds: filepath.Join(home, "credentials")}
	e.addProfile("default", s.Root.AccessKeyID, s.Root.SecretAccessKey, "")
	return e
}

func (e *cliEnv) addProfile(name, id, secret, token string) {
	f, err := os.OpenFile(e.creds, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", name, id, secret)
	if token != "" {
		fmt.Fprintf(f, "aws_session_token = %s\n", token)
	}
}

func (e *cliEnv) run(profile string, args ...string) (string, error) {
	cmd := exec.Command(e.aws, append(args, "--profile", profile, "--output", "json")...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+e.home, "AWS_SHARED_CREDENTIALS_FILE="+e.creds, "AWS_CONFIG_FILE="+filepath.Join(e.home, "config"),
		"AWS_ENDPOINT_URL="+e.s.URL, "AWS_DEFAULT_REGION="+e.s.Region, "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ok runs a call that must succeed and decodes its JSON into v (if not nil).
func (e *cliEnv) ok(v any, profile string, args ...string) {
	e.t.Helper()
	out, err := e.run(profile, args...)
	if err != nil {
		e.t.Fatalf("aws %s (as %s): %v\n%s", strings.Join(args, " "), profile, err, out)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			e.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// fails runs a call that must fail with want in its output.
func (e *cliEnv) fails(want, profile string, args ...string) {
	e.t.Helper()
	out, err := e.run(profile, args...)
	if err == nil || !strings.Contains(out, want) {
		e.t.Fatalf("aws %s (as %s): %v, want %q in\n%s", strings.Join(args, " "), profile, err, want, out)
	}
}

// user makes an IAM user with an access key, and a profile of its name.
func (e *cliEnv) user(name string) string {
	var u struct{ User struct{ Arn string } }
	e.ok(&u, "default", "iam", "create-user", "--user-name", name)
	var k struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	e.ok(&k, "default", "iam", "create-access-key", "--user-name", name)
	e.addProfile(name, k.AccessKey.AccessKeyId, k.AccessKey.SecretAccessKey, "")
	return u.User.Arn
}

func policyDoc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

// TestPoliciesEnforcedWithAWSCLI is issue 13's enforcement list, with the
// aws CLI against a kplane: a user with no policy is refused everywhere; a
// policy on one cluster's ARN allows that cluster only; an explicit Deny
// beats a group's Allow; a role's session policy intersects; a condition
// on aws:RequestTag decides CreateCluster; EC2, IAM, STS and KMS refuse in
// their own shapes; the simulator agrees with enforcement.
func TestPoliciesEnforcedWithAWSCLI(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Deps.Reconciler = removeDeleted{} })
	e := newCLIEnv(t, s)
	acct := s.AccountID
	clusterArn := func(name string) string { return "arn:aws:eks:" + s.Region + ":" + acct + ":cluster/" + name }
	subnets := strings.Join(s.subnets(), ",")
	for _, name := range []string{"one", "two"} {
		e.ok(nil, "default", "eks", "create-cluster", "--name", name, "--role-arn", testRole, "--resources-vpc-config", "subnetIds="+subnets)
	}
	aliceArn := e.user("alice")

	// No policy: refused by EKS, EC2, IAM, and sts:AssumeRole on a role that trusts the account.
	e.fails("An error occurred (AccessDeniedException) when calling the ListClusters operation: User: "+aliceArn+
		" is not authorized to perform: eks:ListClusters on resource: * because no identity-based policy allows the eks:ListClusters action",
		"alice", "eks", "list-clusters")
	e.fails("An error occurred (UnauthorizedOperation) when calling the DescribeVpcs operation: You are not authorized to perform this operation. User: "+aliceArn+
		" is not authorized to perform: ec2:DescribeVpcs on resource: * because no identity-based policy allows the ec2:DescribeVpcs action",
		"alice", "ec2", "describe-vpcs")
	e.fails("(UnauthorizedOperation) when calling the CreateVpc operation", "alice", "ec2", "create-vpc", "--cidr-block", "10.9.0.0/16", "--dry-run")
	e.fails("An error occurred (AccessDeniedException) when calling the ListKeys operation: User: "+aliceArn+
		" is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action",
		"alice", "kms", "list-keys")
	e.fails("An error occurred (AccessDeniedException) when calling the DescribeLogGroups operation: User: "+aliceArn+
		" is not authorized to perform: logs:DescribeLogGroups",
		"alice", "logs", "describe-log-groups")
	e.fails("(AccessDeniedException) when calling the GetParameter operation", "alice", "ssm", "get-parameter",
		"--name", "/aws/service/eks/optimized-ami/1.37/amazon-linux-2023/x86_64/standard/recommended/release_version")
	e.fails("An error occurred (AccessDenied) when calling the ListUsers operation: User: "+aliceArn+
		" is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::"+acct+":user/* because no identity-based policy allows the iam:ListUsers action",
		"alice", "iam", "list-users")
	trustAccount := policyDoc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}`)
	var role struct{ Role struct{ Arn string } }
	e.ok(&role, "default", "iam", "create-role", "--role-name", "ops", "--assume-role-policy-document", trustAccount)
	e.fails("(AccessDenied) when calling the AssumeRole operation: User: "+aliceArn+" is not authorized to perform: sts:AssumeRole on resource: "+role.Role.Arn,
		"alice", "sts", "assume-role", "--role-arn", role.Role.Arn, "--role-session-name", "s1")
	var who struct{ Arn string }
	e.ok(&who, "alice", "sts", "get-caller-identity") // needs no permission, as on AWS

	// eks:Describe* on one cluster's ARN: that cluster, not the other, and nothing else.
	e.ok(nil, "default", "iam", "put-user-policy", "--user-name", "alice", "--policy-name", "one",
		"--policy-document", policyDoc(`{"Effect":"Allow","Action":"eks:Describe*","Resource":"`+clusterArn("one")+`"}`))
	var described struct{ Cluster struct{ Name string } }
	e.ok(&described, "alice", "eks", "describe-cluster", "--name", "one")
	if described.Cluster.Name != "one" {
		t.Fatalf("describe-cluster one: %+v", described)
	}
	e.fails("(AccessDeniedException) when calling the DescribeCluster operation: User: "+aliceArn+" is not authorized to perform: eks:DescribeCluster on resource: "+clusterArn("two"),
		"alice", "eks", "describe-cluster", "--name", "two")
	e.fails("(AccessDeniedException) when calling the DeleteCluster operation", "alice", "eks", "delete-cluster", "--name", "one")

	// A group's Allow, and an explicit Deny on the user: the Deny wins.
	e.ok(nil, "default", "iam", "create-group", "--group-name", "eks-admins")
	e.ok(nil, "default", "iam", "attach-group-policy", "--group-name", "eks-admins", "--policy-arn", "arn:aws:iam::aws:policy/AdministratorAccess")
	e.ok(nil, "default", "iam", "add-user-to-group", "--group-name", "eks-admins", "--user-name", "alice")
	e.ok(nil, "alice", "eks", "describe-cluster", "--name", "two")
	e.ok(nil, "alice", "ec2", "describe-vpcs")
	var denyPolicy struct{ Policy struct{ Arn string } }
	e.ok(&denyPolicy, "default", "iam", "create-policy", "--policy-name", "no-eks-two",
		"--policy-document", policyDoc(`{"Effect":"Deny","Action":"eks:*","Resource":"`+clusterArn("two")+`"}`))
	e.ok(nil, "default", "iam", "attach-user-policy", "--user-name", "alice", "--policy-arn", denyPolicy.Policy.Arn)
	e.fails("(AccessDeniedException) when calling the DescribeCluster operation: User: "+aliceArn+" is not authorized to perform: eks:DescribeCluster on resource: "+
		clusterArn("two")+" with an explicit deny in an identity-based policy", "alice", "eks", "describe-cluster", "--name", "two")
	e.ok(nil, "alice", "eks", "describe-cluster", "--name", "one")

	// The simulator decides as enforcement does.
	var sim struct {
		EvaluationResults []struct{ EvalActionName, EvalResourceName, EvalDecision string }
	}
	e.ok(&sim, "default", "iam", "simulate-principal-policy", "--policy-source-arn", aliceArn,
		"--action-names", "eks:DescribeCluster", "--resource-arns", clusterArn("one"), clusterArn("two"))
	if len(sim.EvaluationResults) != 2 || sim.EvaluationResults[0].EvalDecision != "allowed" || sim.EvaluationResults[1].EvalDecision != "explicitDeny" {
		t.Fatalf("simulate-principal-policy: %+v", sim)
	}
	sim.EvaluationResults = nil
	e.ok(&sim, "default", "iam", "simulate-custom-policy", "--policy-input-list", policyDoc(`{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}`),
		"--action-names", "ec2:DescribeVpcs", "ec2:CreateVpc")
	if len(sim.EvaluationResults) != 2 || sim.EvaluationResults[0].EvalDecision != "allowed" || sim.EvaluationResults[1].EvalDecision != "implicitDeny" {
		t.Fatalf("simulate-custom-policy: %+v", sim)
	}

	// A role assumed with a session policy gets the intersection.
	e.ok(nil, "default", "iam", "attach-role-policy", "--role-name", "ops", "--policy-arn", "arn:aws:iam::aws:policy/AdministratorAccess")
	var assumed struct {
		Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken string }
		AssumedRoleUser struct{ Arn string }
	}
	e.ok(&assumed, "alice", "sts", "assume-role", "--role-arn", role.Role.Arn, "--role-session-name", "narrow",
		"--policy", policyDoc(`{"Effect":"Allow","Action":["eks:List*","eks:Describe*","ec2:Describe*"],"Resource":"*"}`))
	c := assumed.Credentials
	e.addProfile("narrow", c.AccessKeyId, c.SecretAccessKey, c.SessionToken)
	e.ok(nil, "narrow", "eks", "list-clusters")
	e.ok(nil, "narrow", "eks", "describe-cluster", "--name", "two") // alice's Deny is hers, not the role's
	e.fails("(AccessDeniedException) when calling the DeleteCluster operation: User: "+assumed.AssumedRoleUser.Arn+
		" is not authorized to perform: eks:DeleteCluster on resource: "+clusterArn("one")+" because no session policy allows the eks:DeleteCluster action",
		"narrow", "eks", "delete-cluster", "--name", "one")
	e.fails("(AccessDenied) when calling the CreateUser operation", "narrow", "iam", "create-user", "--user-name", "x")

	// A condition on aws:RequestTag decides CreateCluster.
	bob := e.user("bob")
	e.ok(nil, "default", "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "tagged",
		"--policy-document", policyDoc(`{"Effect":"Allow","Action":"eks:CreateCluster","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"blue"}}}`))
	e.fails("(AccessDeniedException) when calling the CreateCluster operation: User: "+bob+" is not authorized to perform: eks:CreateCluster on resource: "+clusterArn("red"),
		"bob", "eks", "create-cluster", "--name", "red", "--role-arn", testRole, "--resources-vpc-config", "subnetIds="+subnets, "--tags", "team=red")
	e.fails("(AccessDeniedException) when calling the CreateCluster operation", "bob", "eks", "create-cluster", "--name", "red", "--role-arn", testRole, "--resources-vpc-config", "subnetIds="+subnets)
	e.ok(nil, "bob", "eks", "create-cluster", "--name", "blue", "--role-arn", testRole, "--resources-vpc-config", "subnetIds="+subnets, "--tags", "team=blue")

	// EC2's DryRun now says what the caller may do.
	e.ok(nil, "default", "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "vpcs",
		"--policy-document", policyDoc(`{"Effect":"Allow","Action":"ec2:CreateVpc","Resource":"*"}`))
	e.fails("(DryRunOperation) when calling the CreateVpc operation: Request would have succeeded, but DryRun flag is set.",
		"bob", "ec2", "create-vpc", "--cidr-block", "10.9.0.0/16", "--dry-run")
	e.fails("(UnauthorizedOperation) when calling the DeleteVpc operation: You are not authorized to perform this operation. User: "+bob+
		" is not authorized to perform: ec2:DeleteVpc on resource: arn:aws:ec2:"+s.Region+":"+acct+":vpc/vpc-0123", "bob", "ec2", "delete-vpc", "--vpc-id", "vpc-0123")

	// KMS answers its own AccessDeniedException; an Allow on kms:* lets bob in.
	e.fails("An error occurred (AccessDeniedException) when calling the ListKeys operation: User: "+bob+
		" is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action", "bob", "kms", "list-keys")
	e.fails("(AccessDeniedException) when calling the CreateKey operation", "narrow", "kms", "create-key")
	e.ok(nil, "default", "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "kms",
		"--policy-document", policyDoc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`))
	e.ok(nil, "bob", "kms", "list-keys")

	// The root keeps full access.
	e.ok(nil, "default", "kms", "create-key")
	e.ok(nil, "default", "eks", "delete-cluster", "--name", "two")
}
