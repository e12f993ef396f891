// Package ec2 serves the part of the Amazon EC2 API (2016-11-15, the ec2
// query protocol) that is kplane's network inventory: availability zones,
// VPCs, subnets, security groups and their tags. Clusters name these in
// CreateCluster; the store keeps them consistent with the clusters.
package ec2

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

const (
	// Version is the only API version kplane speaks.
	Version   = "2016-11-15"
	namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"
	// signingName is the service in the SigV4 credential scope of EC2 calls.
	signingName = "ec2"

	// maxBody bounds a call's body; EC2's calls here are a few KiB.
	maxBody = 1 << 20
	// bodyReadTimeout stops a client that sends its body slowly from holding a handler.
	bodyReadTimeout = 30 * time.Second
	requestIDHeader = "x-amzn-RequestId"
)

// Config is what the EC2 API needs from the server.
type Config struct {
	Store    *store.Store
	Verifier *auth.Verifier // checks SigV4 for service "ec2"
	Region   string
	// AccountID owns every resource (ownerId, ARNs).
	AccountID string
	// Zones are the region's availability zones.
	Zones []string
	// RequestID gives a request's id; nil makes one.
	RequestID func(*http.Request) string
	// Authorizer decides every call with IAM's policies; nil allows all.
	Authorizer policy.Authorizer
	Log        *slog.Logger
}

// Handler answers EC2 query-protocol calls.
type Handler struct {
	cfg Config
}

// NewHandler returns the EC2 API over cfg.
func NewHandler(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Handler{cfg: cfg}
}

// call is one authenticated call with its checked parameters.
type call struct {
	ctx    context.Context
	action string
	in     *input
	cred   *auth.Credential // the caller
}

type operation struct {
	params spec
	run    func(*Handler, *call) (any, *apiError)
}

// common are the parameters every operation takes.
var common = spec{"DryRun": scalar}

func withCommon(s spec) spec {
	for k, v := range common {
		s[k] = v
	}
	return s
}

var describeParams = spec{"Filter": filters, "NextToken": scalar, "MaxResults": scalar}

func describe(ids string) spec {
	s := spec{ids: list}
	for k, v := range describeParams {
		s[k] = v
	}
	return withCommon(s)
}

// operations are the EC2 actions kplane answers, with their parameters as
// the ec2 protocol names them.
var operations = map[string]operation{
	"DescribeAvailabilityZones": {withCommon(spec{"ZoneName": list, "ZoneId": list, "AllAvailabilityZones": scalar, "Filter": filters}), (*Handler).describeAvailabilityZones},
	"DescribeVpcs":              {describe("VpcId"), (*Handler).describeVpcs},
	"DescribeSubnets":           {describe("SubnetId"), (*Handler).describeSubnets},
	"DescribeInstances":         {describe("InstanceId"), (*Handler).describeInstances},
	"DescribeSecurityGroups": {withCommon(spec{"GroupId": list, "GroupName": list, "Filter": filters, "NextToken": scalar, "MaxResults": scalar}),
		(*Handler).describeSecurityGroups},
	"CreateVpc": {withCommon(spec{"CidrBlock": scalar, "InstanceTenancy": scalar, "TagSpecification": tagSpecs,
		"AmazonProvidedIpv6CidrBlock": scalar, "Ipv6Pool": scalar, "Ipv6CidrBlock": scalar, "Ipv4IpamPoolId": scalar,
		"Ipv4NetmaskLength": scalar, "Ipv6IpamPoolId": scalar, "Ipv6NetmaskLength": scalar, "Ipv6CidrBlockNetworkBorderGroup": scalar}),
		(*Handler).createVpc},
	"CreateSubnet": {withCommon(spec{"VpcId": scalar, "CidrBlock": scalar, "AvailabilityZone": scalar, "AvailabilityZoneId": scalar,
		"TagSpecification": tagSpecs, "Ipv6CidrBlock": scalar, "OutpostArn": scalar, "Ipv6Native": scalar, "Ipv4IpamPoolId": scalar,
		"Ipv4NetmaskLength": scalar, "Ipv6IpamPoolId": scalar, "Ipv6NetmaskLength": scalar}),
		(*Handler).createSubnet},
	"CreateSecurityGroup": {withCommon(spec{"GroupName": scalar, "GroupDescription": scalar, "VpcId": scalar, "TagSpecification": tagSpecs}),
		(*Handler).createSecurityGroup},
	"DeleteVpc":           {withCommon(spec{"VpcId": scalar}), (*Handler).deleteVpc},
	"DeleteSubnet":        {withCommon(spec{"SubnetId": scalar}), (*Handler).deleteSubnet},
	"DeleteSecurityGroup": {withCommon(spec{"GroupId": scalar, "GroupName": scalar}), (*Handler).deleteSecurityGroup},
	"CreateTags":          {withCommon(spec{"ResourceId": list, "Tag": tags}), (*Handler).createTags},

	"AuthorizeSecurityGroupIngress": {withCommon(ruleParams(true, "TagSpecification")), (*Handler).authorizeIngress},
	"AuthorizeSecurityGroupEgress":  {withCommon(ruleParams(false, "TagSpecification")), (*Handler).authorizeEgress},
	"RevokeSecurityGroupIngress":    {withCommon(ruleParams(true, "SecurityGroupRuleId")), (*Handler).revokeIngress},
	"RevokeSecurityGroupEgress":     {withCommon(ruleParams(false, "SecurityGroupRuleId")), (*Handler).revokeEgress},
	"ModifySecurityGroupRules":      {withCommon(spec{"GroupId": scalar, "SecurityGroupRule": nested}), (*Handler).modifyRules},
	"DescribeSecurityGroupRules":    {describe("SecurityGroupRuleId"), (*Handler).describeRules},

	"CreateLaunchTemplate": {withCommon(spec{"ClientToken": scalar, "LaunchTemplateName": scalar, "VersionDescription": scalar,
		"LaunchTemplateData": nested, "TagSpecification": tagSpecs}), (*Handler).createLaunchTemplate},
	"CreateLaunchTemplateVersion": {withCommon(spec{"ClientToken": scalar, "LaunchTemplateId": scalar, "LaunchTemplateName": scalar,
		"SourceVersion": scalar, "VersionDescription": scalar, "LaunchTemplateData": nested, "ResolveAlias": scalar}), (*Handler).createLaunchTemplateVersion},
	"DescribeLaunchTemplates": {withCommon(spec{"LaunchTemplateId": list, "LaunchTemplateName": list, "Filter": filters,
		"NextToken": scalar, "MaxResults": scalar, "IncludeManagedResources": scalar}), (*Handler).describeLaunchTemplates},
	"DescribeLaunchTemplateVersions": {withCommon(spec{"LaunchTemplateId": scalar, "LaunchTemplateName": scalar, "LaunchTemplateVersion": list,
		"MinVersion": scalar, "MaxVersion": scalar, "Filter": filters, "NextToken": scalar, "MaxResults": scalar, "ResolveAlias": scalar,
		"IncludeManagedResources": scalar}), (*Handler).describeLaunchTemplateVersions},
	"ModifyLaunchTemplate": {withCommon(spec{"ClientToken": scalar, "LaunchTemplateId": scalar, "LaunchTemplateName": scalar,
		"SetDefaultVersion": scalar}), (*Handler).modifyLaunchTemplate},
	"DeleteLaunchTemplate": {withCommon(spec{"LaunchTemplateId": scalar, "LaunchTemplateName": scalar}), (*Handler).deleteLaunchTemplate},
	"DeleteLaunchTemplateVersions": {withCommon(spec{"LaunchTemplateId": scalar, "LaunchTemplateName": scalar, "LaunchTemplateVersion": list}),
		(*Handler).deleteLaunchTemplateVersions},
	"DeleteTags": {withCommon(spec{"ResourceId": list, "Tag": tags}), (*Handler).deleteTags},
}

// ruleParams are the parameters of Authorize/Revoke SecurityGroupIngress
// (withName: GroupName too) and Egress, plus extra (TagSpecification for
// Authorize, SecurityGroupRuleId for Revoke).
func ruleParams(withName bool, extra string) spec {
	s := spec{"GroupId": scalar, "IpPermissions": nested, "CidrIp": scalar, "IpProtocol": scalar, "FromPort": scalar,
		"ToPort": scalar, "SourceSecurityGroupName": scalar, "SourceSecurityGroupOwnerId": scalar}
	if withName {
		s["GroupName"] = scalar
	}
	switch extra {
	case "TagSpecification":
		s[extra] = tagSpecs
	default:
		s[extra] = list
	}
	return s
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := ""
	if h.cfg.RequestID != nil {
		reqID = h.cfg.RequestID(r)
	}
	if reqID == "" {
		reqID = uuid.NewString()
	}
	w.Header().Set(requestIDHeader, reqID)
	written := false
	defer func() {
		if p := recover(); p != nil {
			h.cfg.Log.Error("panic serving EC2 request", "requestId", reqID, "panic", fmt.Sprint(p))
			if !written {
				writeError(w, reqID, internalError())
			}
		}
	}()
	result, action, e := h.serve(w, r)
	written = true
	if e != nil {
		if e.status >= 500 {
			h.cfg.Log.Error("EC2 call failed", "requestId", reqID, "action", action, "code", e.code, "message", e.msg)
		}
		writeError(w, reqID, e)
		return
	}
	writeResult(w, action, reqID, result)
}

// serve authenticates the call, checks its parameters and runs it.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (any, string, *apiError) {
	body, e := readBody(w, r)
	if e != nil {
		return nil, "", e
	}
	// Authenticate before looking at the action, as AWS does: an unsigned
	// call learns nothing about which actions exist.
	cred, rej := h.cfg.Verifier.Verify(r, body, signingName)
	if rej != nil {
		h.cfg.Log.Info("EC2 request refused", "reason", rej.Reason)
		return nil, "", authError(rej)
	}
	raw := ""
	if r.URL != nil {
		raw = r.URL.RawQuery
	}
	v := queryParams(raw, r.Header.Get("Content-Type"), body)
	action := v.Get("Action")
	if action == "" {
		return nil, "", errorf(codeMissingAction, "The request must contain the parameter Action")
	}
	if ver := v.Get("Version"); ver != "" && ver != Version {
		return nil, action, errorf(codeNoSuchVersion, "The requested version (%s) of service AmazonEC2 does not exist", printable(ver))
	}
	op, found := operations[action]
	if !found {
		return nil, action, errorf(codeInvalidAction, "The action %s is not valid for this web service.", printable(action))
	}
	in, e := parse(v, op.params)
	if e != nil {
		return nil, action, e
	}
	dry, e := in.boolean("DryRun")
	if e != nil {
		return nil, action, e
	}
	if e := h.authorize(r, cred, action, in); e != nil {
		return nil, action, e
	}
	c := &call{ctx: r.Context(), action: action, in: in, cred: cred}
	if dry {
		// Allowed and well formed: the call would succeed.
		return nil, action, dryRun()
	}
	result, e := op.run(h, c)
	return result, action, e
}

// readBody reads at most maxBody bytes, with a deadline so a slow client
// cannot hold the handler.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, code: codeRequestEntityTooLarge, msg: "Request body is larger than 1 MiB."}
	if r.ContentLength > maxBody {
		return nil, tooLarge
	}
	// Not every ResponseWriter supports deadlines (httptest's does not); the
	// server's own timeouts still apply then.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, errorf(codeInvalidParameterValue, "Could not read the request body.")
	}
	_ = rc.SetReadDeadline(time.Time{})
	if len(body) == 0 {
		return nil, nil
	}
	return body, nil
}

// writeResult writes <ActionResponse xmlns=...><requestId/>...</ActionResponse>.
func writeResult(w http.ResponseWriter, action, reqID string, result any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<" + action + `Response xmlns="` + namespace + `"><requestId>`)
	xml.EscapeText(&b, []byte(reqID))
	b.WriteString("</requestId>")
	if result != nil {
		// The result's fields are the response's children: encode the
		// struct, then drop its own start and end tags.
		var inner bytes.Buffer
		if err := xml.NewEncoder(&inner).EncodeElement(result, xml.StartElement{Name: xml.Name{Local: "r"}}); err != nil {
			writeError(w, reqID, internalError())
			return
		}
		body := inner.Bytes()
		body = bytes.TrimPrefix(body, []byte("<r>"))
		body = bytes.TrimSuffix(body, []byte("</r>"))
		b.Write(body)
	}
	b.WriteString("</" + action + "Response>")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// storeError maps a failure of the store that the operation did not expect.
func (h *Handler) storeError(c *call, err error) *apiError {
	h.cfg.Log.Error("EC2 call: store", "action", c.action, "err", err)
	return internalError()
}
