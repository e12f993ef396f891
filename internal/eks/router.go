package eks

import (
	"net/url"
	"strings"
)

// route is one EKS operation: its method, its path pattern ({x} is a label)
// and kplane's handler, nil where kplane does not implement it yet.
type route struct {
	op      string
	method  string
	pattern []string
	handle  func(*API, *call) (any, *Error)
}

// params are the decoded path labels of a matched route.
type params map[string]string

func r(op, method, pattern string, h func(*API, *call) (any, *Error)) route {
	return route{op: op, method: method, pattern: strings.Split(strings.Trim(pattern, "/"), "/"), handle: h}
}

// routes lists every operation of EKS 2017-11-01 (eks-wire-contract.md §1).
var routes = []route{
	r("CreateCluster", "POST", "/clusters", (*API).createCluster),
	r("ListClusters", "GET", "/clusters", (*API).listClusters),
	r("DescribeCluster", "GET", "/clusters/{name}", (*API).describeCluster),
	r("DeleteCluster", "DELETE", "/clusters/{name}", (*API).deleteCluster),
	r("UpdateClusterConfig", "POST", "/clusters/{name}/update-config", (*API).updateClusterConfig),
	r("UpdateClusterVersion", "POST", "/clusters/{name}/updates", (*API).updateClusterVersion),
	r("ListUpdates", "GET", "/clusters/{name}/updates", (*API).listUpdates),
	r("DescribeUpdate", "GET", "/clusters/{name}/updates/{updateId}", (*API).describeUpdate),
	r("CancelUpdate", "POST", "/clusters/{name}/updates/{updateId}/cancel-update", nil),
	r("DescribeClusterVersions", "GET", "/cluster-versions", (*API).describeClusterVersions),
	r("TagResource", "POST", "/tags/{resourceArn}", (*API).tagResource),
	r("UntagResource", "DELETE", "/tags/{resourceArn}", (*API).untagResource),
	r("ListTagsForResource", "GET", "/tags/{resourceArn}", (*API).listTagsForResource),
	r("AssociateEncryptionConfig", "POST", "/clusters/{name}/encryption-config/associate", (*API).associateEncryptionConfig),
	r("RegisterCluster", "POST", "/cluster-registrations", nil),
	r("DeregisterCluster", "DELETE", "/cluster-registrations/{name}", nil),
	r("CreateNodegroup", "POST", "/clusters/{name}/node-groups", (*API).createNodegroup),
	r("ListNodegroups", "GET", "/clusters/{name}/node-groups", (*API).listNodegroups),
	r("DescribeNodegroup", "GET", "/clusters/{name}/node-groups/{nodegroupName}", (*API).describeNodegroup),
	r("DeleteNodegroup", "DELETE", "/clusters/{name}/node-groups/{nodegroupName}", (*API).deleteNodegroup),
	r("UpdateNodegroupConfig", "POST", "/clusters/{name}/node-groups/{nodegroupName}/update-config", (*API).updateNodegroupConfig),
	r("UpdateNodegroupVersion", "POST", "/clusters/{name}/node-groups/{nodegroupName}/update-version", (*API).updateNodegroupVersion),
	r("CreateFargateProfile", "POST", "/clusters/{name}/fargate-profiles", nil),
	r("ListFargateProfiles", "GET", "/clusters/{name}/fargate-profiles", nil),
	r("DescribeFargateProfile", "GET", "/clusters/{name}/fargate-profiles/{fargateProfileName}", nil),
	r("DeleteFargateProfile", "DELETE", "/clusters/{name}/fargate-profiles/{fargateProfileName}", nil),
	r("CreateAddon", "POST", "/clusters/{name}/addons", nil),
	r("ListAddons", "GET", "/clusters/{name}/addons", nil),
	r("DescribeAddon", "GET", "/clusters/{name}/addons/{addonName}", nil),
	r("DeleteAddon", "DELETE", "/clusters/{name}/addons/{addonName}", nil),
	r("UpdateAddon", "POST", "/clusters/{name}/addons/{addonName}/update", nil),
	r("DescribeAddonVersions", "GET", "/addons/supported-versions", nil),
	r("DescribeAddonConfiguration", "GET", "/addons/configuration-schemas", nil),
	r("CreateAccessEntry", "POST", "/clusters/{name}/access-entries", (*API).createAccessEntry),
	r("ListAccessEntries", "GET", "/clusters/{name}/access-entries", (*API).listAccessEntries),
	r("DescribeAccessEntry", "GET", "/clusters/{name}/access-entries/{principalArn}", (*API).describeAccessEntry),
	r("UpdateAccessEntry", "POST", "/clusters/{name}/access-entries/{principalArn}", (*API).updateAccessEntry),
	r("DeleteAccessEntry", "DELETE", "/clusters/{name}/access-entries/{principalArn}", (*API).deleteAccessEntry),
	r("AssociateAccessPolicy", "POST", "/clusters/{name}/access-entries/{principalArn}/access-policies", (*API).associateAccessPolicy),
	r("ListAssociatedAccessPolicies", "GET", "/clusters/{name}/access-entries/{principalArn}/access-policies", (*API).listAssociatedAccessPolicies),
	r("DisassociateAccessPolicy", "DELETE", "/clusters/{name}/access-entries/{principalArn}/access-policies/{policyArn}", (*API).disassociateAccessPolicy),
	r("ListAccessPolicies", "GET", "/access-policies", (*API).listAccessPolicies),
	r("CreatePodIdentityAssociation", "POST", "/clusters/{name}/pod-identity-associations", nil),
	r("ListPodIdentityAssociations", "GET", "/clusters/{name}/pod-identity-associations", nil),
	r("DescribePodIdentityAssociation", "GET", "/clusters/{name}/pod-identity-associations/{associationId}", nil),
	r("UpdatePodIdentityAssociation", "POST", "/clusters/{name}/pod-identity-associations/{associationId}", nil),
	r("DeletePodIdentityAssociation", "DELETE", "/clusters/{name}/pod-identity-associations/{associationId}", nil),
	r("AssociateIdentityProviderConfig", "POST", "/clusters/{name}/identity-provider-configs/associate", nil),
	r("DisassociateIdentityProviderConfig", "POST", "/clusters/{name}/identity-provider-configs/disassociate", nil),
	r("DescribeIdentityProviderConfig", "POST", "/clusters/{name}/identity-provider-configs/describe", nil),
	r("ListIdentityProviderConfigs", "GET", "/clusters/{name}/identity-provider-configs", nil),
	r("ListInsights", "POST", "/clusters/{name}/insights", (*API).listInsights),
	r("DescribeInsight", "GET", "/clusters/{name}/insights/{id}", (*API).describeInsight),
	r("StartInsightsRefresh", "POST", "/clusters/{name}/insights-refresh", (*API).startInsightsRefresh),
	r("DescribeInsightsRefresh", "GET", "/clusters/{name}/insights-refresh", (*API).describeInsightsRefresh),
	r("CreateEksAnywhereSubscription", "POST", "/eks-anywhere-subscriptions", nil),
	r("ListEksAnywhereSubscriptions", "GET", "/eks-anywhere-subscriptions", nil),
	r("DescribeEksAnywhereSubscription", "GET", "/eks-anywhere-subscriptions/{id}", nil),
	r("UpdateEksAnywhereSubscription", "POST", "/eks-anywhere-subscriptions/{id}", nil),
	r("DeleteEksAnywhereSubscription", "DELETE", "/eks-anywhere-subscriptions/{id}", nil),
	r("CreateCapability", "POST", "/clusters/{name}/capabilities", nil),
	r("ListCapabilities", "GET", "/clusters/{name}/capabilities", nil),
	r("DescribeCapability", "GET", "/clusters/{name}/capabilities/{capabilityName}", nil),
	r("UpdateCapability", "POST", "/clusters/{name}/capabilities/{capabilityName}", nil),
	r("DeleteCapability", "DELETE", "/clusters/{name}/capabilities/{capabilityName}", nil),
	r("CreateCertificateAuthority", "POST", "/clusters/{name}/certificate-authorities", nil),
	r("ListCertificateAuthorities", "GET", "/clusters/{name}/certificate-authorities", nil),
	r("DescribeCertificateAuthority", "GET", "/clusters/{name}/certificate-authorities/{certificateAuthorityId}", nil),
	r("DeleteCertificateAuthority", "DELETE", "/clusters/{name}/certificate-authorities/{certificateAuthorityId}", nil),
	r("ActivateCertificateAuthority", "POST", "/clusters/{name}/certificate-authorities/{certificateAuthorityId}/activate", nil),
}

// match finds the route for method and escaped path. Labels are matched on
// the escaped path, so an encoded "/" stays inside its label.
func match(method, escapedPath string) (*route, params, *Error) {
	segs := strings.Split(strings.Trim(escapedPath, "/"), "/")
	pathMatched := false
	for i := range routes {
		rt := &routes[i]
		p, ok := matchPattern(rt.pattern, segs)
		if !ok {
			continue
		}
		pathMatched = true
		if rt.method == method {
			return rt, p, nil
		}
	}
	if pathMatched {
		return nil, nil, Errorf(BadRequest, "The HTTP method %s is not allowed on %s", method, escapedPath)
	}
	return nil, nil, Errorf(NotFound, "No EKS operation is served at %s %s", method, escapedPath)
}

func matchPattern(pattern, segs []string) (params, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var p params
	for i, want := range pattern {
		if strings.HasPrefix(want, "{") {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			if p == nil {
				p = params{}
			}
			p[want[1:len(want)-1]] = v
			continue
		}
		if segs[i] != want {
			return nil, false
		}
	}
	return p, true
}

// notImplemented is the answer for an EKS operation kplane does not serve yet.
func notImplemented(op string) *Error {
	return Errorf(InvalidRequest, "kplane does not support the EKS operation %s yet", op)
}
