package auth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Token checks follow aws-iam-authenticator's pkg/token Verify (the limits, the allowed
// query parameters and the 15-minute lifetime are its constants), except that the
// presigned GetCallerIdentity URL is checked here, with kplane's own credentials,
// instead of being forwarded to STS.
const (
	// TokenPrefix starts every token `aws eks get-token` prints.
	TokenPrefix = "k8s-aws-v1."

	// maxTokenLen is the longest token accepted, prefix included (aws-iam-authenticator's maxTokenLenBytes).
	maxTokenLen = 4096

	// clusterIDHeader is the signed header that binds a token to one cluster.
	clusterIDHeader = "x-k8s-aws-id"

	// maxTokenExpires is the largest X-Amz-Expires a token may carry. Whatever it says,
	// a token lives stsPresignLifetime (15 min) after X-Amz-Date, as with real STS.
	maxTokenExpires = 900

	stsGlobalHost = "sts.amazonaws.com"
	stsHostPrefix = "sts."
	stsHostSuffix = ".amazonaws.com"
)

// Reasons a token is refused: one short, stable name each, for logs, metrics and the
// TokenReview status.error. They never contain any part of the token.
const (
	TokenReasonNoCluster          = "token-no-cluster"            // Verify was called without a cluster name
	TokenReasonTooLong            = "token-too-long"              // more than 4096 bytes
	TokenReasonBadPrefix          = "token-bad-prefix"            // does not start with k8s-aws-v1.
	TokenReasonBadBase64          = "token-bad-base64"            // the rest is not base64url
	TokenReasonBadURL             = "token-bad-url"               // not a URL, or with user info, fragment, ';' or a bad escape
	TokenReasonBadHost            = "token-bad-host"              // not an STS host of the region, nor one of kplane's own
	TokenReasonBadScheme          = "token-bad-scheme"            // not https (public STS hosts), not http/https (kplane's hosts)
	TokenReasonBadPath            = "token-bad-path"              // path other than "/"
	TokenReasonUnknownParam       = "token-unknown-param"         // a query parameter outside the allowed list
	TokenReasonDuplicateParam     = "token-duplicate-param"       // an allowed parameter twice (names compared case-insensitively)
	TokenReasonBadAction          = "token-bad-action"            // Action is not GetCallerIdentity, or Version not 2011-06-15
	TokenReasonClusterIDNotSigned = "token-cluster-id-not-signed" // x-k8s-aws-id missing from X-Amz-SignedHeaders
	TokenReasonBadExpires         = "token-bad-expires"           // X-Amz-Expires missing or not an integer in 0..900
	TokenReasonBadDate            = "token-bad-date"              // X-Amz-Date missing or not 20060102T150405Z
	TokenReasonExpired            = "token-expired"               // more than 15 minutes after X-Amz-Date
	TokenReasonNotYetValid        = "token-not-yet-valid"         // X-Amz-Date further in the future than the clock skew allows
	TokenReasonMalformedSignature = "token-malformed-signature"   // presigned query incomplete or inconsistent (see the message)
	TokenReasonBadCredential      = "token-bad-credential-scope"  // credential scope: algorithm, region, service, date, shape
	TokenReasonUnknownKey         = "token-unknown-access-key"    // access key kplane does not know
	TokenReasonSignatureMismatch  = "token-signature-mismatch"    // altered token, or minted for another cluster
	TokenReasonBadSessionToken    = "token-bad-session-token"     // X-Amz-Security-Token missing, unexpected, unsigned or wrong
	TokenReasonCredentialExpired  = "token-credential-expired"    // the temporary credential that signed it has expired
	TokenReasonUnsupportedARN     = "token-unsupported-identity"  // the credential's ARN is no IAM user, role, root or STS session
	TokenReasonVerifierFailed     = "token-verifier-failed"       // kplane could not look the key up (not the client's fault)
)

const (
	tokenCode = "InvalidToken" // Rejection.Code of every refused token (500s use CodeInternalFailure)

	msgTokenNoCluster     = "No cluster to check the token for."
	msgTokenTooLong       = "Token is longer than 4096 bytes."
	msgTokenBadPrefix     = "Token does not start with " + TokenPrefix
	msgTokenBadBase64     = "Token is not base64url."
	msgTokenBadURL        = "Token does not hold a well-formed URL."
	msgTokenBadHost       = "Token is not for an accepted STS endpoint."
	msgTokenBadScheme     = "Token URL uses a scheme its host does not accept."
	msgTokenBadPath       = "Token URL path must be \"/\"."
	msgTokenUnknownParam  = "Token URL carries a query parameter that is not allowed."
	msgTokenDuplicate     = "Token URL carries a query parameter more than once."
	msgTokenBadAction     = "Token URL is not an STS GetCallerIdentity (2011-06-15) call."
	msgTokenIDNotSigned   = "Token did not sign the " + clusterIDHeader + " header."
	msgTokenBadExpires    = "Token X-Amz-Expires must be an integer from 0 to 900."
	msgTokenBadDate       = "Token X-Amz-Date is missing or not in 20060102T150405Z form."
	msgTokenExpired       = "Token has expired (15 minutes after X-Amz-Date)."
	msgTokenNotYetValid   = "Token X-Amz-Date is in the future."
	msgTokenUnsupported   = "The credential that signed the token is not an IAM user, role, root or STS session."
	msgTokenSignaturePref = "Token signature check failed: " // + the Verifier's Reason constant
)

// TokenIdentity is who a valid token says the caller is.
type TokenIdentity struct {
	ARN          string // as the credential says: arn:aws:iam::A:user/x, arn:aws:iam::A:root, or arn:aws:sts::A:assumed-role/ROLE/SESSION
	CanonicalARN string // assumed-role sessions map to their role: arn:aws:iam::A:role/ROLE
	AccountID    string
	UserID       string // the principal id, without ":SESSION" (as aws-iam-authenticator splits it)
	SessionName  string // the session of an assumed-role ARN, else ""
	AccessKeyID  string

	// ExpiresAt is when the token stops being valid: 15 minutes after X-Amz-Date, or
	// earlier if the temporary credential that signed it expires first. Caches of
	// verified tokens must not outlive it.
	ExpiresAt time.Time
}

// TokenVerifier checks `aws eks get-token` tokens (k8s-aws-v1. + a presigned STS
// GetCallerIdentity URL) without calling STS: the presigned signature is checked with
// kplane's own credentials. Set the fields before first use; it is then safe for
// concurrent use.
type TokenVerifier struct {
	Verifier  *Verifier        // checks the presigned STS GetCallerIdentity signature with kplane's own credentials (service "sts")
	Region    string           // for sts.REGION.amazonaws.com
	SelfHosts []string         // kplane's own endpoint host:port values (http or https scheme accepted for these only)
	Now       func() time.Time // default: Verifier.Now, else time.Now; keep both on the same clock
}

// Verify checks token for cluster clusterName with no call outside kplane. Reason is one of the TokenReason* constants.
func (t *TokenVerifier) Verify(token, clusterName string) (*TokenIdentity, *Rejection) {
	return t.VerifyContext(context.Background(), token, clusterName)
}

// VerifyContext is Verify with a context for the credential lookup.
func (t *TokenVerifier) VerifyContext(ctx context.Context, token, clusterName string) (*TokenIdentity, *Rejection) {
	if t == nil || t.Verifier == nil {
		return nil, tokenInternal()
	}
	if clusterName == "" {
		return nil, tokenReject(TokenReasonNoCluster, msgTokenNoCluster)
	}

	// 1. Shape of the token.
	if len(token) > maxTokenLen {
		return nil, tokenReject(TokenReasonTooLong, msgTokenTooLong)
	}
	encoded, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return nil, tokenReject(TokenReasonBadPrefix, msgTokenBadPrefix)
	}
	// get-token strips the '=' padding; tolerate it anyway. The decoder silently skips
	// CR and LF, which are never part of a token, so refuse them first.
	encoded = strings.TrimSuffix(strings.TrimSuffix(encoded, "="), "=")
	if encoded == "" || strings.ContainsAny(encoded, "\r\n") {
		return nil, tokenReject(TokenReasonBadBase64, msgTokenBadBase64)
	}
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return nil, tokenReject(TokenReasonBadBase64, msgTokenBadBase64)
	}

	// 2. The URL: which host, over which scheme, which path.
	u, err := url.Parse(string(raw))
	if err != nil || u.Opaque != "" || u.User != nil || u.Fragment != "" || u.RawFragment != "" ||
		strings.IndexByte(u.RawQuery, ';') >= 0 {
		return nil, tokenReject(TokenReasonBadURL, msgTokenBadURL)
	}
	public, self := t.hostKind(u.Host)
	switch {
	case !public && !self:
		return nil, tokenReject(TokenReasonBadHost, msgTokenBadHost)
	case public && u.Scheme != "https",
		self && u.Scheme != "https" && u.Scheme != "http":
		return nil, tokenReject(TokenReasonBadScheme, msgTokenBadScheme)
	}
	// get-token always writes "/"; an empty path signs as "/" too, and is accepted for
	// kplane's own hosts, where a Go client may leave it out.
	if p := u.EscapedPath(); p != "/" && !(self && p == "") {
		return nil, tokenReject(TokenReasonBadPath, msgTokenBadPath)
	}

	// 3. The query: only the parameters get-token writes, each once.
	q, rej := readTokenQuery(u.RawQuery)
	if rej != nil {
		return nil, rej
	}
	if q.action != actionGetCallerIdentity || (q.has&tokenParamVersion != 0 && q.version != stsAPIVersion) {
		return nil, tokenReject(TokenReasonBadAction, msgTokenBadAction)
	}
	if !listsHeader(q.signedHeaders, clusterIDHeader) {
		return nil, tokenReject(TokenReasonClusterIDNotSigned, msgTokenIDNotSigned)
	}
	if n, ok := parseExpires(q.expires); q.has&tokenParamExpires == 0 || !ok || n > maxTokenExpires {
		return nil, tokenReject(TokenReasonBadExpires, msgTokenBadExpires)
	}
	signedAt, ok := parseAmzDate(q.date)
	if !ok {
		return nil, tokenReject(TokenReasonBadDate, msgTokenBadDate)
	}
	now := t.now()
	if now.Sub(signedAt) > stsPresignLifetime {
		return nil, tokenReject(TokenReasonExpired, msgTokenExpired)
	}
	skew := t.Verifier.MaxSkew
	if skew <= 0 {
		skew = defaultMaxSkew
	}
	if signedAt.Sub(now) > skew {
		return nil, tokenReject(TokenReasonNotYetValid, msgTokenNotYetValid)
	}

	// 4. The signature: the GET the URL describes, with this cluster's name in
	// x-k8s-aws-id. A token minted for another cluster signed another value and fails here.
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Host:       u.Host,
		Header:     http.Header{"X-K8s-Aws-Id": {clusterName}},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}
	if ctx != nil && ctx != context.Background() {
		req = req.WithContext(ctx)
	}
	verified, vrej := t.Verifier.VerifyDetails(req, nil, stsSigningName)
	if vrej != nil {
		return nil, tokenRejection(vrej)
	}
	cred := verified.Credential

	// 5. Who it is.
	id, ok := identityOf(cred)
	if !ok {
		return nil, tokenReject(TokenReasonUnsupportedARN, msgTokenUnsupported)
	}
	id.ExpiresAt = signedAt.Add(stsPresignLifetime)
	if !cred.Expires.IsZero() && cred.Expires.Before(id.ExpiresAt) {
		id.ExpiresAt = cred.Expires
	}
	return id, nil
}

func (t *TokenVerifier) now() time.Time {
	switch {
	case t.Now != nil:
		return t.Now()
	case t.Verifier.Now != nil:
		return t.Verifier.Now()
	}
	return time.Now()
}

// hostKind says whether host is a public STS host of the region (https only) or one of
// kplane's own (http or https). Host names compare case-insensitively, ports exactly.
func (t *TokenVerifier) hostKind(host string) (public, self bool) {
	if host == "" {
		return false, false
	}
	for _, h := range t.SelfHosts {
		if h != "" && strings.EqualFold(h, host) {
			return false, true
		}
	}
	if strings.EqualFold(host, stsGlobalHost) {
		return true, false
	}
	if t.Region != "" && len(host) == len(stsHostPrefix)+len(t.Region)+len(stsHostSuffix) &&
		strings.EqualFold(host[:len(stsHostPrefix)], stsHostPrefix) &&
		strings.EqualFold(host[len(stsHostPrefix):len(host)-len(stsHostSuffix)], t.Region) &&
		strings.EqualFold(host[len(host)-len(stsHostSuffix):], stsHostSuffix) {
		return true, false
	}
	return false, false
}

// The query parameters a token may carry (aws-iam-authenticator's parameterWhitelist).
const (
	tokenParamAction uint16 = 1 << iota
	tokenParamVersion
	tokenParamAlgorithm
	tokenParamCredential
	tokenParamDate
	tokenParamExpires
	tokenParamSecurityToken
	tokenParamSignature
	tokenParamSignedHeaders
)

// tokenQuery is what the checks before the signature need from the URL's query.
type tokenQuery struct {
	has                                           uint16 // tokenParam* bits seen
	action, version, signedHeaders, expires, date string
}

// readTokenQuery reads the raw query strictly: names are matched case-insensitively,
// none may repeat under any spelling (two spellings of one name could show one value to
// these checks and another to the signature check), and every escape must be valid.
func readTokenQuery(rawQuery string) (q tokenQuery, rej *Rejection) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(rawKey)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return q, tokenReject(TokenReasonBadURL, msgTokenBadURL)
		}
		var bit uint16
		var dst *string
		switch strings.ToLower(key) {
		case "action":
			bit, dst = tokenParamAction, &q.action
		case "version":
			bit, dst = tokenParamVersion, &q.version
		case "x-amz-algorithm":
			bit = tokenParamAlgorithm
		case "x-amz-credential":
			bit = tokenParamCredential
		case "x-amz-date":
			bit, dst = tokenParamDate, &q.date
		case "x-amz-expires":
			bit, dst = tokenParamExpires, &q.expires
		case "x-amz-security-token":
			bit = tokenParamSecurityToken
		case "x-amz-signature":
			bit = tokenParamSignature
		case "x-amz-signedheaders":
			bit, dst = tokenParamSignedHeaders, &q.signedHeaders
		default:
			return q, tokenReject(TokenReasonUnknownParam, msgTokenUnknownParam)
		}
		if q.has&bit != 0 {
			return q, tokenReject(TokenReasonDuplicateParam, msgTokenDuplicate)
		}
		q.has |= bit
		if dst != nil {
			*dst = value
		}
	}
	return q, nil
}

// tokenRejection turns a Verifier rejection into a token one. The Verifier's own reason
// goes into the message (it is a constant, never client input).
func tokenRejection(r *Rejection) *Rejection {
	var reason string
	switch r.Reason {
	case ReasonSignatureMismatch:
		reason = TokenReasonSignatureMismatch
	case ReasonUnknownKey:
		reason = TokenReasonUnknownKey
	case ReasonPresignExpired, ReasonSignatureExpired:
		reason = TokenReasonExpired
	case ReasonSignatureNotYet:
		reason = TokenReasonNotYetValid
	case ReasonWrongRegion, ReasonWrongService, ReasonWrongTerminator, ReasonScopeDateMismatch,
		ReasonMalformedCredential, ReasonUnsupportedAlgorithm:
		reason = TokenReasonBadCredential
	case ReasonSessionTokenMissing, ReasonSessionTokenNotSigned, ReasonSessionTokenMismatch, ReasonUnexpectedToken:
		reason = TokenReasonBadSessionToken
	case ReasonExpiredToken:
		reason = TokenReasonCredentialExpired
	case ReasonLookupFailed:
		return tokenInternal()
	default: // missing or incomplete auth parameters, host not signed, bad date, ...
		reason = TokenReasonMalformedSignature
	}
	return &Rejection{Code: tokenCode, Message: msgTokenSignaturePref + r.Reason, Reason: reason, Status: http.StatusUnauthorized}
}

func tokenReject(reason, msg string) *Rejection {
	return &Rejection{Code: tokenCode, Message: msg, Reason: reason, Status: http.StatusUnauthorized}
}

func tokenInternal() *Rejection {
	return &Rejection{Code: CodeInternalFailure, Message: msgLookupFailed, Reason: TokenReasonVerifierFailed, Status: http.StatusInternalServerError}
}

// identityOf describes a credential the way aws-iam-authenticator describes an STS
// GetCallerIdentity answer: the ARN canonicalized (assumed-role sessions become their
// role), the principal id without its ":SESSION" part. Only IAM root, users and roles
// and STS assumed-role and federated-user ARNs are identities, as there.
func identityOf(c *Credential) (*TokenIdentity, bool) {
	canonical, session, ok := canonicalizeARN(c.Arn)
	if !ok {
		return nil, false
	}
	userID, idSession, hasSession := strings.Cut(c.UserID, ":")
	if strings.IndexByte(idSession, ':') >= 0 {
		return nil, false // aws-iam-authenticator: malformed UserID
	}
	if session == "" && hasSession && strings.Contains(c.Arn, ":assumed-role/") {
		session = idSession
	}
	return &TokenIdentity{
		ARN:          c.Arn,
		CanonicalARN: canonical,
		AccountID:    c.AccountID,
		UserID:       userID,
		SessionName:  session,
		AccessKeyID:  c.AccessKeyID,
	}, true
}

// canonicalizeARN follows aws-iam-authenticator's arn.Canonicalize:
//
//	arn:P:iam::A:root, arn:P:iam::A:user/..., arn:P:iam::A:role/...   unchanged
//	arn:P:sts::A:federated-user/NAME                                   unchanged
//	arn:P:sts::A:assumed-role/ROLE/SESSION                             arn:P:iam::A:role/ROLE, session SESSION
func canonicalizeARN(arn string) (canonical, session string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[5] == "" {
		return "", "", false
	}
	switch parts[1] {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return "", "", false
	}
	partition, service, account, resource := parts[1], parts[2], parts[4], parts[5]
	kind, _, _ := strings.Cut(resource, "/")
	switch {
	case service == "iam" && (kind == "root" || kind == "user" || kind == "role"):
		return arn, "", true
	case service == "sts" && kind == "federated-user":
		return arn, "", true
	case service == "sts" && kind == "assumed-role":
		segs := strings.Split(resource, "/")
		if len(segs) < 3 || segs[len(segs)-1] == "" {
			return "", "", false
		}
		role := strings.Join(segs[1:len(segs)-1], "/")
		if role == "" {
			return "", "", false
		}
		return "arn:" + partition + ":iam::" + account + ":role/" + role, segs[len(segs)-1], true
	}
	return "", "", false
}
