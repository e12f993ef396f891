package iam

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

func doc(action string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`
}

func TestManagedPolicyLifecycle(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)

	made, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("kms-use"), Path: aws.String("/eks/"),
		PolicyDocument: aws.String(doc("kms:Decrypt")), Description: aws.String("cluster encryption"),
		Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	if err != nil {
		t.Fatal(err)
	}
	p := made.Policy
	arn := "arn:aws:iam::" + testAccount + ":policy/eks/kms-use"
	if aws.ToString(p.Arn) != arn || aws.ToString(p.DefaultVersionId) != "v1" || !strings.HasPrefix(aws.ToString(p.PolicyId), "ANPA") ||
		aws.ToInt32(p.AttachmentCount) != 0 || !p.IsAttachable || len(p.Tags) != 1 {
		t.Fatalf("CreatePolicy: %+v", p)
	}
	_, err = c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("KMS-use"), PolicyDocument: aws.String(doc("kms:Decrypt"))})
	wantAPIError(t, err, "EntityAlreadyExists", "A policy called KMS-use already exists. Duplicate names are not allowed.", 409)
	_, err = c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"DescribeCluster","Resource":"*"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", 400)
	_, err = c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:*"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "Policy statement must contain resources.", 400)
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["` + strings.Repeat("eks:DescribeCluster\",\"", 400) + `eks:X"],"Resource":"*"}]}`
	_, err = c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("big"), PolicyDocument: aws.String(big)})
	wantAPIError(t, err, "LimitExceeded", "Cannot exceed quota for PolicySize: 6144", 409)

	// Versions: at most five, one default, the default not deletable.
	for i := 2; i <= 5; i++ {
		v, err := c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc("kms:Encrypt")), SetAsDefault: i == 3})
		if err != nil || aws.ToString(v.PolicyVersion.VersionId) != "v"+string(rune('0'+i)) || v.PolicyVersion.IsDefaultVersion != (i == 3) {
			t.Fatalf("CreatePolicyVersion %d: %+v %v", i, v, err)
		}
	}
	_, err = c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc("kms:Encrypt"))})
	wantAPIError(t, err, "LimitExceeded", "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.", 409)
	got, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil || aws.ToString(got.Policy.DefaultVersionId) != "v3" {
		t.Fatalf("GetPolicy: %+v %v", got, err)
	}
	pv, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := url.QueryUnescape(aws.ToString(pv.PolicyVersion.Document)); d != doc("kms:Decrypt") || pv.PolicyVersion.IsDefaultVersion {
		t.Fatalf("GetPolicyVersion v1: %+v", pv.PolicyVersion)
	}
	_, err = c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String("v3")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete the default version of a policy.", 409)
	_, err = c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String("v9")})
	wantAPIError(t, err, "NoSuchEntity", "Policy "+arn+" version v9 does not exist or is not attachable.", 404)
	if _, err := c.SetDefaultPolicyVersion(ctx, &iam.SetDefaultPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String("v5")}); err != nil {
		t.Fatal(err)
	}
	vs, err := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil || len(vs.Versions) != 5 || aws.ToString(vs.Versions[0].VersionId) != "v5" || !vs.Versions[0].IsDefaultVersion {
		t.Fatalf("ListPolicyVersions: %+v %v", vs, err)
	}

	// Attached, it cannot be deleted; ListEntitiesForPolicy and OnlyAttached see it.
	c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")})
	c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}`)})
	if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("u"), PolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("u"), PolicyArn: aws.String("arn:aws:iam::aws:policy/Nope")})
	wantAPIError(t, err, "NoSuchEntity", "Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable.", 404)
	_, err = c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("nobody"), PolicyArn: aws.String(arn)})
	wantAPIError(t, err, "NoSuchEntity", "The user with name nobody cannot be found.", 404)
	_, err = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete a policy attached to entities.", 409)
	ents, err := c.ListEntitiesForPolicy(ctx, &iam.ListEntitiesForPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil || len(ents.PolicyRoles) != 1 || aws.ToString(ents.PolicyRoles[0].RoleName) != "r" || len(ents.PolicyUsers) != 0 {
		t.Fatalf("ListEntitiesForPolicy: %+v %v", ents, err)
	}
	local, err := c.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal})
	if err != nil || len(local.Policies) != 1 || aws.ToInt32(local.Policies[0].AttachmentCount) != 1 {
		t.Fatalf("ListPolicies Local: %+v %v", local, err)
	}
	awsAttached, err := c.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeAws, OnlyAttached: true})
	if err != nil || len(awsAttached.Policies) != 1 || aws.ToString(awsAttached.Policies[0].PolicyName) != "ReadOnlyAccess" {
		t.Fatalf("ListPolicies AWS OnlyAttached: %+v %v", awsAttached, err)
	}
	all, err := c.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeAws})
	if err != nil || len(all.Policies) < 15 {
		t.Fatalf("ListPolicies AWS: %d %v", len(all.Policies), err)
	}
	under, err := c.ListPolicies(ctx, &iam.ListPoliciesInput{PathPrefix: aws.String("/eks/")})
	if err != nil || len(under.Policies) != 1 {
		t.Fatalf("ListPolicies PathPrefix: %+v %v", under, err)
	}
	for _, name := range []string{"AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
		"AmazonSSMManagedInstanceCore", "AmazonEKSServicePolicy", "AmazonEKSVPCResourceController", "AmazonEC2ContainerRegistryPullOnly",
		"AmazonEKSComputePolicy", "AmazonEKSBlockStoragePolicy", "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingPolicy",
		"AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess"} {
		gp, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::aws:policy/" + name)})
		if err != nil || aws.ToString(gp.Policy.PolicyName) != name {
			t.Fatalf("GetPolicy %s: %v", name, err)
		}
		v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: gp.Policy.Arn, VersionId: gp.Policy.DefaultVersionId})
		if d, _ := url.QueryUnescape(aws.ToString(v.PolicyVersion.Document)); err != nil || !strings.Contains(d, `"Statement"`) {
			t.Fatalf("GetPolicyVersion %s: %v %q", name, err, d)
		}
	}
	_, err = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")})
	wantAPIError(t, err, "InvalidInput", "", 400)

	// The role can be deleted only once detached, as terraform's destroy order does it.
	_, err = c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
	_, err = c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")})
	wantAPIError(t, err, "NoSuchEntity", "Policy arn:aws:iam::aws:policy/ReadOnlyAccess was not found.", 404)
	if _, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)})
	wantAPIError(t, err, "DeleteConflict", "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.", 409)
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		if _, err := c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String(v)}); err != nil {
			t.Fatal(v, err)
		}
	}
	if _, err := c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	wantAPIError(t, err, "NoSuchEntity", "Policy "+arn+" does not exist or is not attachable.", 404)
}

func TestGroupsInlineAndConflicts(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")})
	g, err := c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("devs"), Path: aws.String("/teams/")})
	if err != nil || aws.ToString(g.Group.Arn) != "arn:aws:iam::"+testAccount+":group/teams/devs" || !strings.HasPrefix(aws.ToString(g.Group.GroupId), "AGPA") {
		t.Fatalf("CreateGroup: %+v %v", g, err)
	}
	_, err = c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("DEVS")})
	wantAPIError(t, err, "EntityAlreadyExists", "Group with name DEVS already exists.", 409)
	if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("devs"), UserName: aws.String("u")}); err != nil {
		t.Fatal(err)
	}
	gg, err := c.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("devs")})
	if err != nil || len(gg.Users) != 1 || aws.ToString(gg.Users[0].UserName) != "u" {
		t.Fatalf("GetGroup: %+v %v", gg, err)
	}
	fu, err := c.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String("u")})
	if err != nil || len(fu.Groups) != 1 {
		t.Fatalf("ListGroupsForUser: %+v %v", fu, err)
	}
	lg, err := c.ListGroups(ctx, &iam.ListGroupsInput{PathPrefix: aws.String("/teams/")})
	if err != nil || len(lg.Groups) != 1 {
		t.Fatalf("ListGroups: %+v %v", lg, err)
	}
	_, err = c.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("devs")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must remove users from group first.", 409)
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("u")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must remove user from all groups first.", 409)

	// Inline policies on users, roles and groups.
	for _, k := range []struct {
		put    func() error
		list   func() ([]string, error)
		get    func() (string, error)
		del    func() error
		delErr func() error
	}{
		{
			put: func() error {
				_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("p"), PolicyDocument: aws.String(allowAll)})
				return err
			},
			list: func() ([]string, error) {
				o, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("u")})
				return o.PolicyNames, err
			},
			get: func() (string, error) {
				o, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("P")})
				if err != nil {
					return "", err
				}
				return aws.ToString(o.PolicyDocument), nil
			},
			del: func() error {
				_, err := c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("p")})
				return err
			},
			delErr: func() error {
				_, err := c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("p")})
				return err
			},
		},
		{
			put: func() error {
				_, err := c.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String("p"), PolicyDocument: aws.String(allowAll)})
				return err
			},
			list: func() ([]string, error) {
				o, err := c.ListGroupPolicies(ctx, &iam.ListGroupPoliciesInput{GroupName: aws.String("devs")})
				return o.PolicyNames, err
			},
			get: func() (string, error) {
				o, err := c.GetGroupPolicy(ctx, &iam.GetGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String("p")})
				if err != nil {
					return "", err
				}
				return aws.ToString(o.PolicyDocument), nil
			},
			del: func() error {
				_, err := c.DeleteGroupPolicy(ctx, &iam.DeleteGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String("p")})
				return err
			},
			delErr: func() error {
				_, err := c.DeleteGroupPolicy(ctx, &iam.DeleteGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String("p")})
				return err
			},
		},
	} {
		if err := k.put(); err != nil {
			t.Fatal(err)
		}
		names, err := k.list()
		if err != nil || !slices.Equal(names, []string{"p"}) {
			t.Fatalf("list inline: %v %v", names, err)
		}
		if d, err := k.get(); err != nil || d != allowAll {
			if u, _ := url.QueryUnescape(d); u != allowAll {
				t.Fatalf("get inline: %q %v", d, err)
			}
		}
		if err := k.del(); err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, k.delErr(), "NoSuchEntity", "", 404)
	}
	_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("p"), PolicyDocument: aws.String(`{"Statement":[]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "Syntax errors in policy.", 400)
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["` + strings.Repeat("eks:DescribeCluster\",\"", 100) + `eks:X"],"Resource":"*"}]}`
	_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("big"), PolicyDocument: aws.String(big)})
	wantAPIError(t, err, "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user u", 409)

	c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("p"), PolicyDocument: aws.String(allowAll)})
	c.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("devs"), UserName: aws.String("u")})
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("u")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
	c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("p")})
	c.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: aws.String("devs"), PolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")})
	_, err = c.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("devs")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
	la, err := c.ListAttachedGroupPolicies(ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String("devs")})
	if err != nil || len(la.AttachedPolicies) != 1 || aws.ToString(la.AttachedPolicies[0].PolicyName) != "ReadOnlyAccess" {
		t.Fatalf("ListAttachedGroupPolicies: %+v %v", la, err)
	}
	c.DetachGroupPolicy(ctx, &iam.DetachGroupPolicyInput{GroupName: aws.String("devs"), PolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")})
	for _, err := range []error{
		func() error {
			_, err := c.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("devs")})
			return err
		}(),
		func() error { _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("u")}); return err }(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRolesAsInfrastructureCodeUsesThem(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("node"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	// Tags.
	if _, err := c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("node"), Tags: []iamtypes.Tag{{Key: aws.String("b"), Value: aws.String("2")}, {Key: aws.String("a"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagRole(ctx, &iam.UntagRoleInput{RoleName: aws.String("node"), TagKeys: []string{"B"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String("node")})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "a" {
		t.Fatalf("ListRoleTags: %+v %v", tags, err)
	}
	c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")})
	c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("u"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("x")}}})
	ut, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("u")})
	if err != nil || len(ut.Tags) != 1 {
		t.Fatalf("ListUserTags: %+v %v", ut, err)
	}
	_, err = c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("nope"), Tags: []iamtypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}}})
	wantAPIError(t, err, "NoSuchEntity", "The role with name nope cannot be found.", 404)

	// UpdateRole, UpdateAssumeRolePolicy.
	if _, err := c.UpdateRole(ctx, &iam.UpdateRoleInput{RoleName: aws.String("node"), Description: aws.String("nodes"), MaxSessionDuration: aws.Int32(7200)}); err != nil {
		t.Fatal(err)
	}
	trust2 := strings.Replace(trust, "ec2.amazonaws.com", "eks.amazonaws.com", 1)
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("node"), PolicyDocument: aws.String(trust2)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("node"), PolicyDocument: aws.String(`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "Missing required field Principal", 400)
	r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("node")})
	if d, _ := url.QueryUnescape(aws.ToString(r.Role.AssumeRolePolicyDocument)); err != nil || d != trust2 ||
		aws.ToString(r.Role.Description) != "nodes" || aws.ToInt32(r.Role.MaxSessionDuration) != 7200 {
		t.Fatalf("GetRole after updates: %+v %v", r, err)
	}

	// Instance profiles: one role each; the role cannot go while in one.
	ip, err := c.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("node-profile")})
	if err != nil || aws.ToString(ip.InstanceProfile.Arn) != "arn:aws:iam::"+testAccount+":instance-profile/node-profile" {
		t.Fatalf("CreateInstanceProfile: %+v %v", ip, err)
	}
	if _, err := c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("node-profile"), RoleName: aws.String("node")}); err != nil {
		t.Fatal(err)
	}
	c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("other"), AssumeRolePolicyDocument: aws.String(trust)})
	_, err = c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("node-profile"), RoleName: aws.String("other")})
	wantAPIError(t, err, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1", 409)
	gp, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("node-profile")})
	if err != nil || len(gp.InstanceProfile.Roles) != 1 || aws.ToString(gp.InstanceProfile.Roles[0].RoleName) != "node" {
		t.Fatalf("GetInstanceProfile: %+v %v", gp, err)
	}
	fr, err := c.ListInstanceProfilesForRole(ctx, &iam.ListInstanceProfilesForRoleInput{RoleName: aws.String("node")})
	if err != nil || len(fr.InstanceProfiles) != 1 {
		t.Fatalf("ListInstanceProfilesForRole: %+v %v", fr, err)
	}
	_, err = c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("node")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.", 409)
	_, err = c.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String("node-profile")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.", 409)
	if _, err := c.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: aws.String("node-profile"), RoleName: aws.String("node")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String("node-profile")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("node-profile")})
	wantAPIError(t, err, "NoSuchEntity", "Instance Profile node-profile cannot be found.", 404)
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("node")}); err != nil {
		t.Fatal(err)
	}

	// Service-linked roles for EKS and its node groups, made once.
	for service, name := range map[string]string{"eks.amazonaws.com": "AWSServiceRoleForAmazonEKS", "eks-nodegroup.amazonaws.com": "AWSServiceRoleForAmazonEKSNodegroup"} {
		slr, err := c.CreateServiceLinkedRole(ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String(service)})
		if err != nil || aws.ToString(slr.Role.RoleName) != name || aws.ToString(slr.Role.Path) != "/aws-service-role/"+service+"/" {
			t.Fatalf("CreateServiceLinkedRole %s: %+v %v", service, slr, err)
		}
		_, err = c.CreateServiceLinkedRole(ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String(service)})
		wantAPIError(t, err, "InvalidInput", "Service role name "+name+" has been taken in this account, please try a different suffix.", 400)
		_, err = c.UpdateRole(ctx, &iam.UpdateRoleInput{RoleName: aws.String(name), Description: aws.String("x")})
		wantAPIError(t, err, "UnmodifiableEntity", "", 400)
	}
	_, err = c.CreateServiceLinkedRole(ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("nope.amazonaws.com")})
	wantAPIError(t, err, "InvalidInput", "", 400)
}
