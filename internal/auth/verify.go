// Package auth authenticates requests to kplane's AWS-style endpoints: it checks AWS
// Signature Version 4 (header and presigned forms) the way the AWS front end does,
// keeps the root credentials file, and answers STS GetCallerIdentity.
//
// Verify follows the order in which AWS checks a request, so a client sees the same
// error AWS would give it: presence of auth, its completeness, date format and skew,
// host signed, algorithm, credential shape, scope, access key, signature, session token.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	signingAlgorithm = "AWS4-HMAC-SHA256"
	scopeTerminator  = "aws4_request"
	unsignedPayload  = "UNSIGNED-PAYLOAD"

	defaultMaxSkew = 5 * time.Minute

	// maxPresignExpires is the longest X-Amz-Expires SigV4 allows: one week.
	maxPresignExpires = 7 * 24 * 60 * 60

	// stsPresignLifetime is how long STS honours a presigned URL, whatever X-Amz-Expires
	// says: STS ignores that parameter. `aws eks get-token` signs with X-Amz-Expires=60
	// but tells kubectl to reuse the token for 14 minutes, and aws-iam-authenticator
	// accepts tokens for 15 minutes after X-Amz-Date, so honouring 60 s would break
	// every kubectl session after a minute.
	stsPresignLifetime = 15 * time.Minute

	stsSigningName = "sts"
)

// Verifier checks SigV4 signatures. Set the exported fields before first use; after
// that a Verifier is safe for concurrent use and must not be copied.
type Verifier struct {
	Region      string // the only region accepted in the credential scope ("" accepts any)
	Credentials CredentialSource
	MaxSkew     time.Duration    // default 5*time.Minute when zero
	Now         func() time.Time // default time.Now

	keys signingKeys
}

// Verified describes a request that passed VerifyDetails.
type Verified struct {
	Credential    *Credential
	Presigned     bool
	SignedHeaders []string  // header names the client signed, as it listed them
	SignedAt      time.Time // X-Amz-Date (or Date) of the request
}

// Verify checks a SigV4-signed request, either the Authorization header form or a presigned
// query string (X-Amz-Algorithm/X-Amz-Credential/X-Amz-Date/X-Amz-SignedHeaders/X-Amz-Signature/
// X-Amz-Security-Token/X-Amz-Expires). service is the signing name expected in the scope ("eks", "sts", ...).
// body is the full request body (already read by the caller; nil for none).
// It returns the caller's credential, or a *Rejection.
func (v *Verifier) Verify(r *http.Request, body []byte, service string) (*Credential, *Rejection) {
	cred, _, rej := v.verify(r, body, service)
	return cred, rej
}

// VerifyDetails is Verify for callers that need more than the credential, such as a
// token webhook that must see that x-k8s-aws-id was signed.
func (v *Verifier) VerifyDetails(r *http.Request, body []byte, service string) (*Verified, *Rejection) {
	cred, c, rej := v.verify(r, body, service)
	if rej != nil {
		return nil, rej
	}
	return &Verified{
		Credential:    cred,
		Presigned:     c.presigned,
		SignedHeaders: strings.Split(c.signedHeaders, ";"),
		SignedAt:      c.signedAt,
	}, nil
}

// checked is a claim that survived parsing, with its date resolved.
type checked struct {
	claim
	signedAt time.Time
	amzDate  string // the date line of the string to sign
}

func (v *Verifier) verify(r *http.Request, body []byte, service string) (*Credential, checked, *Rejection) {
	var c checked
	if v == nil { // a nil Verifier knows no keys
		return nil, c, unrecognizedClient(ReasonUnknownKey)
	}
	if r == nil {
		return nil, c, reject(http.StatusForbidden, CodeMissingAuthenticationToken, ReasonMissingAuthentication, msgMissingAuthentication)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	maxSkew := v.MaxSkew
	if maxSkew <= 0 {
		maxSkew = defaultMaxSkew
	}

	// 1. Which form of authentication, and is it complete?
	if rej := readClaim(r, &c); rej != nil {
		return nil, c, rej
	}

	// 2. Time: the signature must be fresh, and a presigned URL not past its lifetime.
	if rej := checkTime(&c, now, maxSkew, service); rej != nil {
		return nil, c, rej
	}

	// 3. Shape of the signature and its scope.
	if !listsHeader(c.signedHeaders, "host") {
		return nil, c, invalidSignature(ReasonHostNotSigned, msgHostNotSigned)
	}
	if c.algorithm != signingAlgorithm {
		return nil, c, incomplete(ReasonUnsupportedAlgorithm, fmt.Sprintf(msgUnsupportedAlgFmt, printable(c.algorithm)))
	}
	akid, date, region, scopeService, terminator, scope, ok := splitCredential(c.credential)
	if !ok {
		return nil, c, incomplete(ReasonMalformedCredential, msgMalformedCredential)
	}
	if rej := v.checkScope(date, region, scopeService, terminator, service, c.amzDate); rej != nil {
		return nil, c, rej
	}

	// 4. Who is it?
	var cred *Credential
	if v.Credentials != nil && akid != "" {
		var err error
		cred, err = v.Credentials.Lookup(r.Context(), akid)
		if err != nil && !errors.Is(err, ErrUnknownKey) {
			return nil, c, reject(http.StatusInternalServerError, CodeInternalFailure, ReasonLookupFailed, msgLookupFailed)
		}
	}
	// A key without a secret would accept signatures anyone can compute.
	if cred == nil || cred.SecretAccessKey == "" {
		return nil, c, unrecognizedClient(ReasonUnknownKey)
	}

	// 5. The signature itself.
	var bodyHash [sha256.Size * 2]byte
	sum := sha256.Sum256(body)
	hex.Encode(bodyHash[:], sum[:])
	payloadHash, rej := choosePayloadHash(r, &c.claim, bodyHash[:])
	if rej != nil {
		return nil, c, rej
	}
	key := v.keys.get(cred.SecretAccessKey, date, region, scopeService)
	if !signatureMatches(r, &c, scope, payloadHash, &key) {
		return nil, c, invalidSignature(ReasonSignatureMismatch, msgSignatureMismatch)
	}

	// 6. Temporary credentials: the token must come with the request, signed, and be current.
	if rej := checkSessionToken(r, &c.claim, cred, now); rej != nil {
		return nil, c, rej
	}
	return cred, c, nil
}

// readClaim finds the request's signature claim and reports everything missing from it.
func readClaim(r *http.Request, c *checked) *Rejection {
	rawQuery := ""
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	authz := ""
	if v := r.Header["Authorization"]; len(v) > 0 {
		authz = strings.Trim(v[0], " \t")
	}
	q, presigned, duplicate := parsePresigned(rawQuery)

	switch {
	case presigned && authz != "":
		return incomplete(ReasonBothAuthForms, msgBothAuthForms)
	case presigned:
		if duplicate != "" {
			return incomplete(ReasonDuplicateQueryParam, fmt.Sprintf(msgDuplicateParamFmt, duplicate))
		}
		var missing strings.Builder
		for _, p := range [...]struct{ name, value string }{
			{paramAlgorithm, q.algorithm}, {paramCredential, q.credential}, {paramSignature, q.signature},
			{paramSignedHeaders, q.signedHeaders}, {paramDate, q.date},
		} {
			if p.value == "" {
				missing.WriteString("AWS query-string parameters must include '" + p.name + "'. ")
			}
		}
		if missing.Len() > 0 {
			missing.WriteString("Re-examine the query-string parameters.")
			return incomplete(ReasonIncompleteQuery, missing.String())
		}
		c.claim = q
		t, ok := parseAmzDate(q.date)
		if !ok {
			return incomplete(ReasonMalformedDate, fmt.Sprintf(msgMalformedDateFmt, printable(q.date)))
		}
		c.signedAt, c.amzDate = t, q.date
		return nil
	case strings.HasPrefix(authz, "AWS4-"):
		h, ok := parseAuthorization(authz)
		if !ok {
			return incomplete(ReasonMalformedHeader, msgMalformedHeader)
		}
		t, amzDate, rawDate, datePresent, dateOK := requestDate(r.Header)
		var missing strings.Builder
		for _, p := range [...]struct{ name, value string }{
			{"Credential", h.credential}, {"Signature", h.signature}, {"SignedHeaders", h.signedHeaders},
		} {
			if p.value == "" {
				missing.WriteString("Authorization header requires '" + p.name + "' parameter. ")
			}
		}
		if !datePresent {
			missing.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
		}
		// AWS ends this message with "Authorization=<the header>"; we do not, so the
		// signature never ends up in responses or logs.
		if missing.Len() > 0 {
			return incomplete(ReasonIncompleteHeader, strings.TrimSuffix(missing.String(), " "))
		}
		if !dateOK {
			return incomplete(ReasonMalformedDate, fmt.Sprintf(msgMalformedDateFmt, printable(rawDate)))
		}
		c.claim = h
		c.signedAt, c.amzDate = t, amzDate
		return nil
	default:
		// AWS treats an Authorization header of another scheme like none at all.
		return reject(http.StatusForbidden, CodeMissingAuthenticationToken, ReasonMissingAuthentication, msgMissingAuthentication)
	}
}

// checkTime enforces the clock-skew window and, for presigned URLs, their lifetime.
//
// An expired presigned URL gets the same InvalidSignatureException "Signature expired: ..."
// as a stale header-signed request: that is what non-S3 AWS services answer (only S3 says
// 403 AccessDenied "Request has expired"), and clients already recognise the text as a
// clock/expiry problem.
func checkTime(c *checked, now time.Time, maxSkew time.Duration, service string) *Rejection {
	if c.signedAt.Sub(now) > maxSkew {
		return invalidSignature(ReasonSignatureNotYet, skewMessage(c.signedAt, now, maxSkew, true))
	}
	if !c.presigned {
		if now.Sub(c.signedAt) > maxSkew {
			return invalidSignature(ReasonSignatureExpired, skewMessage(c.signedAt, now, maxSkew, false))
		}
		return nil
	}
	lifetime := maxSkew // no X-Amz-Expires: as fresh as a header-signed request
	if c.hasExpires {
		n, ok := parseExpires(c.expires)
		// STS ignores X-Amz-Expires, and older aws-iam-authenticator releases sign 0
		// there, so STS accepts 0; everywhere else a URL must live at least a second.
		minimum := 1
		if service == stsSigningName {
			minimum = 0
		}
		if !ok || n < minimum || n > maxPresignExpires {
			return incomplete(ReasonInvalidExpires, msgInvalidExpires)
		}
		lifetime = time.Duration(n) * time.Second
	}
	if service == stsSigningName {
		lifetime = stsPresignLifetime
	}
	if now.Sub(c.signedAt) > lifetime {
		return invalidSignature(ReasonPresignExpired, skewMessage(c.signedAt, now, lifetime, false))
	}
	return nil
}

// splitCredential splits AKID/YYYYMMDD/region/service/aws4_request. Trailing slashes are
// ignored, as AWS ignores them; scope is everything after the key id.
func splitCredential(credential string) (akid, date, region, service, terminator, scope string, ok bool) {
	credential = strings.TrimRight(credential, "/")
	akid, scope, ok1 := strings.Cut(credential, "/")
	date, rest, ok2 := strings.Cut(scope, "/")
	region, rest, ok3 := strings.Cut(rest, "/")
	service, terminator, ok4 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || !ok3 || !ok4 || strings.IndexByte(terminator, '/') >= 0 {
		return "", "", "", "", "", "", false
	}
	return akid, date, region, service, terminator, scope, true
}

// checkScope reports every scope problem in one message, as AWS does; Reason names the first.
func (v *Verifier) checkScope(date, region, scopeService, terminator, service, amzDate string) *Rejection {
	var msg strings.Builder
	reason := ""
	add := func(r, m string) {
		if reason == "" {
			reason = r
		}
		msg.WriteString(m)
	}
	if v.Region != "" && region != v.Region {
		add(ReasonWrongRegion, msgWrongRegion)
	}
	if scopeService != service {
		add(ReasonWrongService, fmt.Sprintf(msgWrongServiceFmt, service))
	}
	if terminator != scopeTerminator {
		add(ReasonWrongTerminator, fmt.Sprintf(msgWrongTerminatorFmt, printable(terminator)))
	}
	if len(amzDate) < 8 || date != amzDate[:8] {
		add(ReasonScopeDateMismatch, fmt.Sprintf(msgScopeDateFmt, printable(date), printable(amzDate[:min(8, len(amzDate))]), printable(amzDate)))
	}
	if reason == "" {
		return nil
	}
	return invalidSignature(reason, msg.String())
}

// choosePayloadHash picks the payload hash line of the canonical request. Normally it is
// the SHA-256 of the body. A signed X-Amz-Content-Sha256 (header, or query parameter of a
// presigned URL) is used as the client sent it, after checking it really is the body's
// hash; UNSIGNED-PAYLOAD is honoured only for presigned URLs, because on a header-signed
// request it would let anyone who sees the request swap the body.
func choosePayloadHash(r *http.Request, c *claim, bodyHash []byte) ([]byte, *Rejection) {
	declared, has := c.contentSHA256, c.hasContentSHA256
	if !has && listsHeader(c.signedHeaders, "x-amz-content-sha256") {
		if v := r.Header["X-Amz-Content-Sha256"]; len(v) > 0 {
			declared, has = strings.Trim(v[0], " \t"), true
		}
	}
	switch {
	case !has:
		return bodyHash, nil
	case declared == unsignedPayload:
		if !c.presigned {
			return nil, invalidSignature(ReasonUnsignedPayload, msgUnsignedPayload)
		}
		return []byte(unsignedPayload), nil
	case len(declared) != len(bodyHash) || !isHexString(declared):
		return nil, invalidSignature(ReasonInvalidPayloadHash, msgInvalidPayloadHash)
	case !strings.EqualFold(declared, string(bodyHash)):
		return nil, invalidSignature(ReasonPayloadHashMismatch, msgPayloadHashMismatch)
	default:
		return []byte(declared), nil
	}
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// signatureMatches recomputes the signature and compares it in constant time. If the
// plain path does not match and botocore would have normalized it ("//", "." or ".."
// segments), the normalized form is tried too.
func signatureMatches(r *http.Request, c *checked, scope string, payloadHash []byte, key *[sha256.Size]byte) bool {
	var claimed [sha256.Size * 2]byte
	if len(c.signature) != len(claimed) {
		return false
	}
	copy(claimed[:], c.signature)

	cb := getCanonicalBuffer()
	defer putCanonicalBuffer(cb)
	path := requestPath(r.URL)
	computed := computeSignature(cb, r, c, path, scope, payloadHash, key)
	if subtle.ConstantTimeCompare(computed[:], claimed[:]) == 1 {
		return true
	}
	if alt, changed := normalizedPath(path); changed {
		computed = computeSignature(cb, r, c, alt, scope, payloadHash, key)
		return subtle.ConstantTimeCompare(computed[:], claimed[:]) == 1
	}
	return false
}

// computeSignature returns hex(HMAC(signing key, string to sign)).
func computeSignature(cb *canonicalBuffer, r *http.Request, c *checked, path, scope string, payloadHash []byte, key *[sha256.Size]byte) (out [sha256.Size * 2]byte) {
	cb.appendCanonicalRequest(r, path, c.presigned, c.signedHeaders, payloadHash)
	canonicalHash := sha256.Sum256(cb.b)

	// String to sign: algorithm, request date, scope, hex(SHA-256(canonical request)).
	b := append(cb.b[:0], signingAlgorithm...)
	b = append(b, '\n')
	b = append(b, c.amzDate...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonicalHash[:])
	cb.b = b

	mac := hmac.New(sha256.New, key[:])
	mac.Write(b)
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	hex.Encode(out[:], sum[:])
	return out
}

func checkSessionToken(r *http.Request, c *claim, cred *Credential, now time.Time) *Rejection {
	token, has, signed := c.securityToken, c.hasSecurityToken, c.hasSecurityToken
	if !c.presigned {
		if v := r.Header["X-Amz-Security-Token"]; len(v) > 0 {
			token, has = v[0], true
			signed = listsHeader(c.signedHeaders, "x-amz-security-token")
		}
	}
	switch {
	case cred.SessionToken == "" && has:
		return unrecognizedClient(ReasonUnexpectedToken)
	case cred.SessionToken == "":
		return nil
	case !has:
		return unrecognizedClient(ReasonSessionTokenMissing)
	case !signed:
		return unrecognizedClient(ReasonSessionTokenNotSigned)
	case subtle.ConstantTimeCompare([]byte(token), []byte(cred.SessionToken)) != 1:
		return unrecognizedClient(ReasonSessionTokenMismatch)
	}
	if !cred.Expires.IsZero() && !now.Before(cred.Expires) {
		return reject(http.StatusForbidden, CodeExpiredToken, ReasonExpiredToken, msgExpiredToken)
	}
	return nil
}
