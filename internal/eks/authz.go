package eks

import (
	"encoding/json"
	"strings"

	"github.com/kplane/kplane/internal/policy"
)

// What each EKS operation asks of IAM: its action is eks:OPERATION and its
// resource is named here, as the EKS service authorization reference names
// them. An operation missing from resources acts on its cluster when its
// path has one, else on "*".
type resourceOf func(a *API, c *call) string

var resources = map[string]resourceOf{
	"CreateCluster":           func(a *API, c *call) string { return a.clusterArn(bodyField(c.body, "name")) },
	"ListClusters":            star,
	"DescribeClusterVersions": star,
	"ListAccessPolicies":      star,
	"DescribeAddonVersions":   star,
	"RegisterCluster":         func(a *API, c *call) string { return a.clusterArn(bodyField(c.body, "name")) },
	"TagResource":             func(_ *API, c *call) string { return c.params["resourceArn"] },
	"UntagResource":           func(_ *API, c *call) string { return c.params["resourceArn"] },
	"ListTagsForResource":     func(_ *API, c *call) string { return c.params["resourceArn"] },
	// Calls on one access entry act on the entry's ARN.
	"DescribeAccessEntry":          accessEntryResource,
	"UpdateAccessEntry":            accessEntryResource,
	"DeleteAccessEntry":            accessEntryResource,
	"AssociateAccessPolicy":        accessEntryResource,
	"DisassociateAccessPolicy":     accessEntryResource,
	"ListAssociatedAccessPolicies": accessEntryResource,
	// Calls on one node group act on the node group's ARN.
	"DescribeNodegroup":      nodegroupResource,
	"DeleteNodegroup":        nodegroupResource,
	"UpdateNodegroupConfig":  nodegroupResource,
	"UpdateNodegroupVersion": nodegroupResource,
}

func star(*API, *call) string { return "*" }

// nodegroupResource is the node group's ARN (its last part is the id kplane
// gave it); one that does not exist is named up to its name.
func nodegroupResource(a *API, c *call) string {
	if ng, err := a.cfg.Store.GetNodegroup(c.r.Context(), c.params["name"], c.params["nodegroupName"]); err == nil {
		return ng.Nodegroup.NodegroupArn
	}
	return "arn:aws:eks:" + a.cfg.Region + ":" + a.cfg.AccountID + ":nodegroup/" + c.params["name"] + "/" + c.params["nodegroupName"]
}

func accessEntryResource(a *API, c *call) string {
	if e, err := a.cfg.Store.GetAccessEntry(c.r.Context(), c.params["name"], c.params["principalArn"]); err == nil {
		return e.Entry.AccessEntryArn
	}
	return a.clusterArn(c.params["name"])
}

// bodyField reads one top-level string of a JSON body ("" if none).
func bodyField(body []byte, name string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	var s string
	json.Unmarshal(m[name], &s)
	return s
}

// authorize asks IAM whether the caller may run the operation: the call's
// resource, the tags it sets (aws:RequestTag/*, aws:TagKeys) and the tags
// of the cluster it acts on (aws:ResourceTag/*).
func (a *API) authorize(rt *route, c *call) *Error {
	if a.cfg.Authorizer == nil || c.cred == nil {
		return nil
	}
	res := resources[rt.op]
	var resource string
	switch {
	case res != nil:
		resource = res(a, c)
	case c.params["name"] != "":
		resource = a.clusterArn(c.params["name"])
	default:
		resource = "*"
	}
	var keys map[string][]string
	switch rt.op {
	case "CreateCluster", "TagResource", "CreateAccessEntry", "CreateNodegroup", "CreateAddon", "CreateFargateProfile", "CreatePodIdentityAssociation":
		var body struct {
			Tags map[string]string `json:"tags"`
		}
		json.Unmarshal(c.body, &body)
		keys = policy.RequestTagKeys(keys, body.Tags)
	case "UntagResource":
		keys = policy.TagKeys(keys, c.query["tagKeys"])
	}
	if cluster := clusterOfResource(resource, c); cluster != "" && rt.op != "CreateCluster" {
		if rec, err := a.cfg.Store.GetCluster(c.r.Context(), cluster); err == nil {
			keys = policy.ResourceTagKeys(keys, rec.Cluster.Tags)
		}
	}
	if ref := a.cfg.Authorizer.Authorize(c.r, c.cred, &policy.Request{Action: "eks:" + rt.op, Resource: resource, Context: keys}); ref != nil {
		return &Error{Type: AccessDenied, Status: 403, Message: ref.Message}
	}
	return nil
}

// clusterOfResource is the cluster a call's resource is, for its tags.
func clusterOfResource(resource string, c *call) string {
	if name := c.params["name"]; name != "" && !strings.Contains(resource, ":access-entry/") && !strings.Contains(resource, ":nodegroup/") {
		return name
	}
	if _, rest, ok := strings.Cut(resource, ":cluster/"); ok {
		return rest
	}
	return ""
}
