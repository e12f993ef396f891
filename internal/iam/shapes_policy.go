package iam

import "github.com/kplane/kplane/internal/store"

// The XML shapes of the policy, group and instance-profile calls.

type policyShape struct {
	PolicyName                    string   `xml:"PolicyName"`
	PolicyID                      string   `xml:"PolicyId"`
	Arn                           string   `xml:"Arn"`
	Path                          string   `xml:"Path"`
	DefaultVersionID              string   `xml:"DefaultVersionId"`
	AttachmentCount               int      `xml:"AttachmentCount"`
	PermissionsBoundaryUsageCount int      `xml:"PermissionsBoundaryUsageCount"`
	IsAttachable                  bool     `xml:"IsAttachable"`
	Description                   string   `xml:"Description,omitempty"`
	CreateDate                    string   `xml:"CreateDate"`
	UpdateDate                    string   `xml:"UpdateDate"`
	Tags                          *tagList `xml:"Tags,omitempty"`
}

type policyResult struct {
	Policy policyShape `xml:"Policy"`
}

type listPoliciesResult struct {
	Policies struct {
		Members []policyShape `xml:"member"`
	} `xml:"Policies"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type policyVersionShape struct {
	Document         string `xml:"Document,omitempty"`
	VersionID        string `xml:"VersionId"`
	IsDefaultVersion bool   `xml:"IsDefaultVersion"`
	CreateDate       string `xml:"CreateDate"`
}

type policyVersionResult struct {
	PolicyVersion policyVersionShape `xml:"PolicyVersion"`
}

type listPolicyVersionsResult struct {
	Versions struct {
		Members []policyVersionShape `xml:"member"`
	} `xml:"Versions"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type listTagsResult struct {
	Tags        tagList `xml:"Tags"`
	IsTruncated bool    `xml:"IsTruncated"`
	Marker      string  `xml:"Marker,omitempty"`
}

type attachedPolicyShape struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

type listAttachedResult struct {
	AttachedPolicies struct {
		Members []attachedPolicyShape `xml:"member"`
	} `xml:"AttachedPolicies"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type listPolicyNamesResult struct {
	PolicyNames struct {
		Members []string `xml:"member"`
	} `xml:"PolicyNames"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type inlinePolicyResult struct {
	UserName       string `xml:"UserName,omitempty"`
	RoleName       string `xml:"RoleName,omitempty"`
	GroupName      string `xml:"GroupName,omitempty"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type entityShape struct {
	Name string `xml:",omitempty"`
}

type policyGroupShape struct {
	GroupName string `xml:"GroupName"`
	GroupID   string `xml:"GroupId"`
}

type policyUserShape struct {
	UserName string `xml:"UserName"`
	UserID   string `xml:"UserId"`
}

type policyRoleShape struct {
	RoleName string `xml:"RoleName"`
	RoleID   string `xml:"RoleId"`
}

type listEntitiesResult struct {
	PolicyGroups struct {
		Members []policyGroupShape `xml:"member"`
	} `xml:"PolicyGroups"`
	PolicyUsers struct {
		Members []policyUserShape `xml:"member"`
	} `xml:"PolicyUsers"`
	PolicyRoles struct {
		Members []policyRoleShape `xml:"member"`
	} `xml:"PolicyRoles"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type groupShape struct {
	Path       string `xml:"Path"`
	GroupName  string `xml:"GroupName"`
	GroupID    string `xml:"GroupId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

type groupResult struct {
	Group groupShape `xml:"Group"`
}

type getGroupResult struct {
	Group groupShape `xml:"Group"`
	Users struct {
		Members []userShape `xml:"member"`
	} `xml:"Users"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type listGroupsResult struct {
	Groups struct {
		Members []groupShape `xml:"member"`
	} `xml:"Groups"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type instanceProfileShape struct {
	Path                string `xml:"Path"`
	InstanceProfileName string `xml:"InstanceProfileName"`
	InstanceProfileID   string `xml:"InstanceProfileId"`
	Arn                 string `xml:"Arn"`
	CreateDate          string `xml:"CreateDate"`
	Roles               struct {
		Members []roleShape `xml:"member"`
	} `xml:"Roles"`
	Tags *tagList `xml:"Tags,omitempty"`
}

type instanceProfileResult struct {
	InstanceProfile instanceProfileShape `xml:"InstanceProfile"`
}

type listInstanceProfilesResult struct {
	InstanceProfiles struct {
		Members []instanceProfileShape `xml:"member"`
	} `xml:"InstanceProfiles"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

func groupOf(g *store.IAMGroup) groupShape {
	return groupShape{Path: g.Path, GroupName: g.GroupName, GroupID: g.GroupID, Arn: g.Arn, CreateDate: isoTime(g.CreateDate)}
}

func policyOf(p *store.IAMPolicy, withTags bool) policyShape {
	sh := policyShape{PolicyName: p.PolicyName, PolicyID: p.PolicyID, Arn: p.Arn, Path: p.Path,
		DefaultVersionID: p.DefaultVersionID, AttachmentCount: p.AttachmentCount, IsAttachable: true,
		Description: p.Description, CreateDate: isoTime(p.CreateDate), UpdateDate: isoTime(p.UpdateDate)}
	if withTags {
		sh.Tags = tagsShape(p.Tags)
	}
	return sh
}

func managedPolicyOf(m *managedPolicy, attachments int) policyShape {
	return policyShape{PolicyName: m.name, PolicyID: m.id, Arn: m.arn, Path: "/", DefaultVersionID: "v1",
		AttachmentCount: attachments, IsAttachable: true, Description: m.description,
		CreateDate: isoTime(awsManagedDate), UpdateDate: isoTime(awsManagedDate)}
}
