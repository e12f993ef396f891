package iam

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/auth"
)

const (
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	iamVersion   = "2010-05-08"
	stsVersion   = "2011-06-15"

	// iamSigningRegion is where clients sign IAM calls: IAM is global, and the
	// AWS CLI and SDKs sign it for us-east-1 whatever region they are set to.
	iamSigningRegion = "us-east-1"

	// maxQueryBody bounds a call's body: the largest IAM parameter, a 128 KiB
	// policy, is at most three times that URL-encoded.
	maxQueryBody = 1 << 20
	// bodyReadTimeout stops a client that sends its body slowly from holding a handler.
	bodyReadTimeout = 30 * time.Second

	formContentType = "application/x-www-form-urlencoded"
	xmlContentType  = "text/xml"
	requestIDHeader = "x-amzn-RequestId"
)

// apiError is an error as the query protocol reports it.
type apiError struct {
	status int
	code   string
	msg    string
}

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

func validationError(msg string) *apiError { return newError(400, "ValidationError", msg) }

// api is one of the two services on the query protocol.
type api struct {
	signingName string
	namespace   string
	version     string
	ops         map[string]func(*Service, *call) (any, *apiError)
	internal    string // the code of a failure on kplane's side
}

var iamAPI = &api{signingName: "iam", namespace: iamNamespace, version: iamVersion, internal: "ServiceFailure",
	ops: entityOps(map[string]func(*Service, *call) (any, *apiError){
		"CreateUser":      (*Service).createUser,
		"GetUser":         (*Service).getUser,
		"ListUsers":       (*Service).listUsers,
		"CreateAccessKey": (*Service).createAccessKey,
		"DeleteAccessKey": (*Service).deleteAccessKey,
		"ListAccessKeys":  (*Service).listAccessKeys,
		"CreateRole":      (*Service).createRole,
		"GetRole":         (*Service).getRole,
		"ListRoles":       (*Service).listRoles,

		"UpdateRole":              (*Service).updateRole,
		"UpdateAssumeRolePolicy":  (*Service).updateAssumeRolePolicy,
		"CreateServiceLinkedRole": (*Service).createServiceLinkedRole,

		"CreatePolicy": (*Service).createPolicy, "GetPolicy": (*Service).getPolicy,
		"ListPolicies": (*Service).listPolicies, "DeletePolicy": (*Service).deletePolicy,
		"CreatePolicyVersion": (*Service).createPolicyVersion, "GetPolicyVersion": (*Service).getPolicyVersion,
		"ListPolicyVersions": (*Service).listPolicyVersions, "DeletePolicyVersion": (*Service).deletePolicyVersion,
		"SetDefaultPolicyVersion": (*Service).setDefaultPolicyVersion,
		"ListEntitiesForPolicy":   (*Service).listEntitiesForPolicy,
		"TagPolicy":               (*Service).tagPolicy, "UntagPolicy": (*Service).untagPolicy, "ListPolicyTags": (*Service).listPolicyTags,

		"CreateGroup": (*Service).createGroup, "GetGroup": (*Service).getGroup,
		"ListGroups":     (*Service).listGroups,
		"AddUserToGroup": (*Service).addUserToGroup, "RemoveUserFromGroup": (*Service).removeUserFromGroup,
		"ListGroupsForUser": (*Service).listGroupsForUser,

		"CreateInstanceProfile": (*Service).createInstanceProfile, "GetInstanceProfile": (*Service).getInstanceProfile,
		"DeleteInstanceProfile": (*Service).deleteInstanceProfile, "ListInstanceProfiles": (*Service).listInstanceProfiles,
		"AddRoleToInstanceProfile":      (*Service).addRoleToInstanceProfile,
		"RemoveRoleFromInstanceProfile": (*Service).removeRoleFromInstanceProfile,
		"ListInstanceProfilesForRole":   (*Service).listInstanceProfilesForRole,

		"CreateOpenIDConnectProvider":             (*Service).createOpenIDConnectProvider,
		"GetOpenIDConnectProvider":                (*Service).getOpenIDConnectProvider,
		"ListOpenIDConnectProviders":              (*Service).listOpenIDConnectProviders,
		"DeleteOpenIDConnectProvider":             (*Service).deleteOpenIDConnectProvider,
		"AddClientIDToOpenIDConnectProvider":      (*Service).addClientIDToOpenIDConnectProvider,
		"RemoveClientIDFromOpenIDConnectProvider": (*Service).removeClientIDFromOpenIDConnectProvider,
		"UpdateOpenIDConnectProviderThumbprint":   (*Service).updateOpenIDConnectProviderThumbprint,
		"TagOpenIDConnectProvider":                (*Service).tagOpenIDConnectProvider,
		"UntagOpenIDConnectProvider":              (*Service).untagOpenIDConnectProvider,
		"ListOpenIDConnectProviderTags":           (*Service).listOpenIDConnectProviderTags,

		"SimulatePrincipalPolicy": (*Service).simulatePrincipalPolicy,
		"SimulateCustomPolicy":    (*Service).simulateCustomPolicy,
	})}

var stsAPI = &api{signingName: "sts", namespace: stsNamespace, version: stsVersion, internal: "InternalFailure",
	ops: map[string]func(*Service, *call) (any, *apiError){
		"GetCallerIdentity":         (*Service).getCallerIdentity,
		"AssumeRole":                (*Service).assumeRole,
		"AssumeRoleWithWebIdentity": (*Service).assumeRoleWithWebIdentity,
	}}

// unsigned are the STS calls made without AWS credentials: the token they
// carry is the caller's proof.
var unsigned = map[string]bool{"AssumeRoleWithWebIdentity": true}

// call is one authenticated query-protocol call.
type call struct {
	r      *http.Request
	p      params
	cred   *auth.Credential
	action string
}

type handler struct {
	s           *Service
	v           *auth.Verifier
	global      *auth.Verifier // v's twin for us-east-1, for IAM
	requestID   func(*http.Request) string
	readTimeout time.Duration
}

// Handler answers every AWS query-protocol request (IAM and STS), verifying
// SigV4 with v (service from the credential scope: "iam" or "sts"), as XML.
// requestID gives the request id. IAM calls are also accepted when signed for
// us-east-1, where every AWS client signs IAM; v's Region, MaxSkew and Now are
// read when Handler is called.
func (s *Service) Handler(v *auth.Verifier, requestID func(*http.Request) string) http.Handler {
	h := &handler{s: s, v: v, requestID: requestID, readTimeout: bodyReadTimeout}
	if v != nil && v.Region != "" && v.Region != iamSigningRegion {
		h.global = &auth.Verifier{Region: iamSigningRegion, Credentials: v.Credentials, MaxSkew: v.MaxSkew, Now: v.Now}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := ""
	if h.requestID != nil {
		reqID = h.requestID(r)
	}
	if reqID == "" {
		reqID = uuid.NewString()
	}
	w.Header().Set(requestIDHeader, reqID)

	// Which service is decided by the signature's scope, as AWS's endpoints
	// decide it by host name. An unsigned call is answered as STS.
	service, region := auth.SigningScope(r)
	a := stsAPI
	if service == iamAPI.signingName {
		a = iamAPI
	}

	body, e := readQueryBody(w, r, h.readTimeout)
	if e != nil {
		writeError(w, a, reqID, e)
		return
	}
	// Authenticate before looking at the action, as AWS does: an unsigned call
	// learns nothing about which actions exist.
	v := h.v
	if a == iamAPI && h.global != nil && region == iamSigningRegion {
		v = h.global
	}
	p := queryParams(r, body)
	var cred *auth.Credential
	if a != stsAPI || !unsigned[p.get("Action")] || isSigned(r) {
		var rej *auth.Rejection
		if cred, rej = v.Verify(r, body, a.signingName); rej != nil {
			writeError(w, a, reqID, newError(rej.Status, rej.Code, rej.Message))
			return
		}
	}

	action := p.get("Action")
	if action == "" {
		writeError(w, a, reqID, newError(400, "MissingAction", "Missing Action"))
		return
	}
	version := p.get("Version")
	if version == "" {
		version = a.version
	}
	op := a.ops[action]
	if op == nil || version != a.version {
		writeError(w, a, reqID, newError(400, "InvalidAction", "Could not find operation "+quoteValue(action)+" for version "+quoteValue(version)))
		return
	}
	result, e := op(h.s, &call{r: r, p: p, cred: cred, action: action})
	if e != nil {
		writeError(w, a, reqID, e)
		return
	}
	writeResult(w, a, action, reqID, result)
}

// isSigned reports whether r carries a SigV4 signature (header or presigned).
func isSigned(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.URL != nil && r.URL.Query().Get("X-Amz-Signature") != ""
}

// readQueryBody reads at most maxQueryBody bytes, with a deadline so a slow
// client cannot hold the handler.
func readQueryBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) ([]byte, *apiError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	tooLarge := newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body is larger than 1 MiB.")
	if r.ContentLength > maxQueryBody {
		return nil, tooLarge
	}
	// Not every ResponseWriter supports deadlines (httptest's does not); the
	// server's own timeouts still apply then.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err != nil {
		// The deadline stays: net/http drains the rest of the body before
		// replying, and must fail fast and drop the connection, not wait.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, newError(400, "MalformedQueryString", "Could not read the request body.")
	}
	_ = rc.SetReadDeadline(time.Time{})
	if len(body) == 0 {
		body = nil
	}
	return body, nil
}

// queryParams merges the URL query and, for form posts, the body; body values
// win, as they are what the SDKs send.
func queryParams(r *http.Request, body []byte) params {
	p := url.Values{}
	if r.URL != nil {
		p, _ = url.ParseQuery(r.URL.RawQuery) // keeps every well-formed pair
	}
	mediaType, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if strings.EqualFold(strings.TrimSpace(mediaType), formContentType) {
		form, _ := url.ParseQuery(string(body))
		for k, v := range form {
			p[k] = v
		}
	}
	return params(p)
}

// writeResult writes <ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>.
// A nil result writes no Result element, as for IAM's Delete calls.
func writeResult(w http.ResponseWriter, a *api, action, reqID string, result any) {
	var b bytes.Buffer
	b.WriteString(`<` + action + `Response xmlns="` + a.namespace + `">`)
	if result != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			writeError(w, a, reqID, newError(500, "", "An internal error occurred."))
			return
		}
		enc.Flush()
	}
	b.WriteString(`<ResponseMetadata><RequestId>`)
	escapeText(&b, reqID)
	b.WriteString(`</RequestId></ResponseMetadata></` + action + `Response>`)
	writeXML(w, http.StatusOK, b.Bytes())
}

// writeError writes the query protocol's ErrorResponse.
func writeError(w http.ResponseWriter, a *api, reqID string, e *apiError) {
	kind := "Sender"
	if e.status >= 500 {
		kind = "Receiver"
	}
	if e.code == "" {
		e = newError(e.status, a.internal, e.msg)
	}
	var b bytes.Buffer
	b.WriteString(`<ErrorResponse xmlns="` + a.namespace + `"><Error><Type>` + kind + `</Type><Code>`)
	escapeText(&b, e.code)
	b.WriteString(`</Code><Message>`)
	escapeText(&b, e.msg)
	b.WriteString(`</Message></Error><RequestId>`)
	escapeText(&b, reqID)
	b.WriteString(`</RequestId></ErrorResponse>`)
	writeXML(w, e.status, b.Bytes())
}

func writeXML(w http.ResponseWriter, status int, doc []byte) {
	w.Header().Set("Content-Type", xmlContentType)
	w.WriteHeader(status)
	w.Write(doc)
}

// escapeText writes s as XML character data, escaping only what must be
// (AWS leaves quotes alone, which keeps messages readable on the wire).
// Messages are printable already; other control characters are dropped.
func escapeText(b *bytes.Buffer, s string) {
	for _, c := range s {
		switch {
		case c == '&':
			b.WriteString("&amp;")
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case c < 0x20 && c != '\t' && c != '\n':
		case c == 0xFFFD, c == 0xFFFE, c == 0xFFFF:
			b.WriteRune(0xFFFD)
		default:
			b.WriteRune(c)
		}
	}
}
