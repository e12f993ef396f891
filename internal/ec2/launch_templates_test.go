package ec2

import "testing"

// LaunchTemplateData is checked against the model before anything is made:
// an unknown member, a list where a structure goes, a non-integer.
func TestLaunchTemplateDataChecked(t *testing.T) {
	e := newTestEnv(t)
	e.fails(codeUnknownParameter, "The parameter LaunchTemplateData.InstanceTypo is not recognized", "CreateLaunchTemplate",
		"LaunchTemplateName", "lt1", "LaunchTemplateData.InstanceTypo", "m5.large")
	e.fails(codeUnknownParameter, "The parameter LaunchTemplateData.MetadataOptions.1 is not recognized", "CreateLaunchTemplate",
		"LaunchTemplateName", "lt1", "LaunchTemplateData.MetadataOptions.1", "x")
	e.fails(codeInvalidParameterValue, "Value (big) for parameter LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize is invalid. Expected an integer.",
		"CreateLaunchTemplate", "LaunchTemplateName", "lt1", "LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize", "big")
	e.fails(codeMissingParameter, "", "CreateLaunchTemplate", "LaunchTemplateName", "lt1")
	var lt launchTemplateResult
	// List members are kept in index order, renumbered from 1.
	e.ok(&lt, "CreateLaunchTemplate", "LaunchTemplateName", "lt1", "LaunchTemplateData.SecurityGroupId.3", "sg-2", "LaunchTemplateData.SecurityGroupId.1", "sg-1")
	var out struct {
		Groups []string `xml:"launchTemplateVersionSet>item>launchTemplateData>securityGroupIdSet>item"`
	}
	e.ok(&out, "DescribeLaunchTemplateVersions", "LaunchTemplateId", lt.LaunchTemplate.LaunchTemplateID)
	if len(out.Groups) != 2 || out.Groups[0] != "sg-1" || out.Groups[1] != "sg-2" {
		t.Fatalf("groups: %+v", out)
	}
	e.fails(codeInvalidParameterCombo, "", "DeleteLaunchTemplate", "LaunchTemplateId", lt.LaunchTemplate.LaunchTemplateID, "LaunchTemplateName", "lt1")
	e.fails("InvalidLaunchTemplateId.Malformed", "", "DeleteLaunchTemplate", "LaunchTemplateId", "template-1")
	e.ok(nil, "CreateTags", "ResourceId.1", lt.LaunchTemplate.LaunchTemplateID, "Tag.1.Key", "k", "Tag.1.Value", "v")
	var list describeLaunchTemplatesResult
	e.ok(&list, "DescribeLaunchTemplates", "Filter.1.Name", "tag:k", "Filter.1.Value.1", "v")
	if len(list.LaunchTemplates.Items) != 1 {
		t.Fatalf("by tag: %+v", list)
	}
	e.ok(nil, "DeleteLaunchTemplate", "LaunchTemplateId", lt.LaunchTemplate.LaunchTemplateID)
	e.fails("InvalidLaunchTemplateId.NotFound", "", "DeleteLaunchTemplate", "LaunchTemplateId", lt.LaunchTemplate.LaunchTemplateID)
}
