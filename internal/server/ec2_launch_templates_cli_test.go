package server_test

import (
	"strings"
	"testing"
)

type cliTemplate struct {
	LaunchTemplateId, LaunchTemplateName, CreatedBy string
	DefaultVersionNumber, LatestVersionNumber       int
	Tags                                            []struct{ Key, Value string }
}

type cliTemplateVersion struct {
	LaunchTemplateId, LaunchTemplateName, VersionDescription string
	VersionNumber                                            int
	DefaultVersion                                           bool
	LaunchTemplateData                                       struct {
		InstanceType, ImageId, UserData string
		SecurityGroupIds                []string
		MetadataOptions                 struct {
			HttpTokens              string
			HttpPutResponseHopLimit int
		}
		BlockDeviceMappings []struct {
			DeviceName string
			Ebs        struct {
				VolumeSize          int
				VolumeType          string
				DeleteOnTermination bool
			}
		}
		TagSpecifications []struct {
			ResourceType string
			Tags         []struct{ Key, Value string }
		}
	}
}

// Launch templates with the real aws CLI and boto3: the data terraform-aws-eks
// puts in one round-trips, versions with $Latest/$Default and a source
// version, the default moved, versions and templates deleted, EC2's errors.
func TestLaunchTemplatesWithAWSCLI(t *testing.T) {
	s := startServer(t, nil)
	c := newCLI(t, s)
	sg := c.text("ec2", "create-security-group", "--group-name", "nodes", "--description", "nodes", "--query", "GroupId")
	data := `{"InstanceType":"m5.large","SecurityGroupIds":["` + sg + `"],"UserData":"IyEvYmluL2Jhc2gK",` +
		`"MetadataOptions":{"HttpEndpoint":"enabled","HttpTokens":"required","HttpPutResponseHopLimit":2},` +
		`"BlockDeviceMappings":[{"DeviceName":"/dev/xvda","Ebs":{"VolumeSize":50,"VolumeType":"gp3","DeleteOnTermination":true}}],` +
		`"TagSpecifications":[{"ResourceType":"instance","Tags":[{"Key":"team","Value":"a"}]}]}`
	var made struct{ LaunchTemplate cliTemplate }
	c.json(&made, "ec2", "create-launch-template", "--launch-template-name", "eks-nodes", "--version-description", "first",
		"--launch-template-data", data, "--tag-specifications", "ResourceType=launch-template,Tags=[{Key=owner,Value=me}]")
	lt := made.LaunchTemplate
	if !strings.HasPrefix(lt.LaunchTemplateId, "lt-") || lt.DefaultVersionNumber != 1 || lt.LatestVersionNumber != 1 ||
		lt.CreatedBy != "arn:aws:iam::"+s.AccountID+":root" || len(lt.Tags) != 1 {
		t.Fatalf("create-launch-template: %+v", lt)
	}
	c.fails("(InvalidLaunchTemplateName.AlreadyExistsException) when calling the CreateLaunchTemplate operation: Launch template name already in use.",
		"ec2", "create-launch-template", "--launch-template-name", "eks-nodes", "--launch-template-data", `{"InstanceType":"t3.small"}`)
	c.fails("(InvalidLaunchTemplateName.MalformedException)", "ec2", "create-launch-template", "--launch-template-name", "bad name!", "--launch-template-data", `{"InstanceType":"t3.small"}`)
	c.fails("(InvalidUserData.Malformed)", "ec2", "create-launch-template", "--launch-template-name", "bad-data", "--launch-template-data", `{"UserData":"not base64!"}`)

	var versions struct{ LaunchTemplateVersions []cliTemplateVersion }
	c.json(&versions, "ec2", "describe-launch-template-versions", "--launch-template-id", lt.LaunchTemplateId)
	v := versions.LaunchTemplateVersions
	if len(v) != 1 || !v[0].DefaultVersion || v[0].VersionDescription != "first" {
		t.Fatalf("versions: %+v", v)
	}
	d := v[0].LaunchTemplateData
	if d.InstanceType != "m5.large" || len(d.SecurityGroupIds) != 1 || d.SecurityGroupIds[0] != sg || d.UserData != "IyEvYmluL2Jhc2gK" ||
		d.MetadataOptions.HttpTokens != "required" || d.MetadataOptions.HttpPutResponseHopLimit != 2 || len(d.BlockDeviceMappings) != 1 ||
		d.BlockDeviceMappings[0].Ebs.VolumeSize != 50 || !d.BlockDeviceMappings[0].Ebs.DeleteOnTermination ||
		len(d.TagSpecifications) != 1 || d.TagSpecifications[0].Tags[0].Key != "team" {
		t.Fatalf("data round trip: %+v", d)
	}

	// Version 2 from version 1 with another instance type keeps the rest.
	var made2 struct{ LaunchTemplateVersion cliTemplateVersion }
	c.json(&made2, "ec2", "create-launch-template-version", "--launch-template-name", "eks-nodes", "--source-version", "1",
		"--launch-template-data", `{"InstanceType":"m5.xlarge"}`)
	if v2 := made2.LaunchTemplateVersion; v2.VersionNumber != 2 || v2.DefaultVersion || v2.LaunchTemplateData.InstanceType != "m5.xlarge" ||
		len(v2.LaunchTemplateData.SecurityGroupIds) != 1 {
		t.Fatalf("version 2: %+v", v2)
	}
	c.json(nil, "ec2", "create-launch-template-version", "--launch-template-id", lt.LaunchTemplateId, "--launch-template-data", `{"InstanceType":"c5.large"}`)
	versions.LaunchTemplateVersions = nil
	c.json(&versions, "ec2", "describe-launch-template-versions", "--launch-template-id", lt.LaunchTemplateId, "--versions", "$Latest", "$Default")
	if v := versions.LaunchTemplateVersions; len(v) != 2 || v[0].VersionNumber != 1 || v[1].VersionNumber != 3 ||
		v[1].LaunchTemplateData.SecurityGroupIds != nil || !v[0].DefaultVersion {
		t.Fatalf("$Latest and $Default: %+v", v)
	}
	c.fails("(InvalidLaunchTemplateId.VersionNotFound)", "ec2", "describe-launch-template-versions", "--launch-template-id", lt.LaunchTemplateId, "--versions", "9")

	var modified struct{ LaunchTemplate cliTemplate }
	c.json(&modified, "ec2", "modify-launch-template", "--launch-template-id", lt.LaunchTemplateId, "--default-version", "2")
	if modified.LaunchTemplate.DefaultVersionNumber != 2 || modified.LaunchTemplate.LatestVersionNumber != 3 {
		t.Fatalf("modify-launch-template: %+v", modified)
	}
	var deleted struct {
		SuccessfullyDeletedLaunchTemplateVersions   []struct{ VersionNumber int }
		UnsuccessfullyDeletedLaunchTemplateVersions []struct {
			VersionNumber int
			ResponseError struct{ Code string }
		}
	}
	c.json(&deleted, "ec2", "delete-launch-template-versions", "--launch-template-id", lt.LaunchTemplateId, "--versions", "1", "2", "7")
	if len(deleted.SuccessfullyDeletedLaunchTemplateVersions) != 1 || deleted.SuccessfullyDeletedLaunchTemplateVersions[0].VersionNumber != 1 ||
		len(deleted.UnsuccessfullyDeletedLaunchTemplateVersions) != 2 ||
		deleted.UnsuccessfullyDeletedLaunchTemplateVersions[1].ResponseError.Code != "launchTemplateVersionDoesNotExist" {
		t.Fatalf("delete-launch-template-versions: %+v", deleted)
	}

	// boto3: the modeled parameters and a paginator over templates.
	script := `
import boto3
ec2 = boto3.client("ec2")
for i in range(3):
    ec2.create_launch_template(LaunchTemplateName="paged-%d" % i, LaunchTemplateData={"InstanceType": "t3.small", "EbsOptimized": True})
names = [t["LaunchTemplateName"] for p in ec2.get_paginator("describe_launch_templates").paginate(PaginationConfig={"PageSize": 1}) for t in p["LaunchTemplates"]]
assert sorted(names) == ["eks-nodes", "paged-0", "paged-1", "paged-2"], names
v = ec2.describe_launch_template_versions(LaunchTemplateName="paged-1")["LaunchTemplateVersions"][0]
assert v["LaunchTemplateData"] == {"InstanceType": "t3.small", "EbsOptimized": True}, v
print("ok")
`
	if out, err := c.run("python3", "-c", script); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("boto3: %v\n%s", err, out)
	}

	var list struct{ LaunchTemplates []cliTemplate }
	c.json(&list, "ec2", "describe-launch-templates", "--filters", "Name=tag:owner,Values=me")
	if len(list.LaunchTemplates) != 1 || list.LaunchTemplates[0].LaunchTemplateName != "eks-nodes" {
		t.Fatalf("by tag: %+v", list)
	}
	c.json(nil, "ec2", "delete-launch-template", "--launch-template-name", "eks-nodes")
	c.fails("(InvalidLaunchTemplateName.NotFoundException)", "ec2", "describe-launch-templates", "--launch-template-names", "eks-nodes")
	c.fails("(InvalidLaunchTemplateId.NotFound)", "ec2", "describe-launch-template-versions", "--launch-template-id", lt.LaunchTemplateId)
}
