package auth

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error codes, as the AWS front end puts them in x-amzn-ErrorType.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeExpiredToken               = "ExpiredTokenException"
	CodeInternalFailure            = "InternalFailure"
)

// Reasons: one short, stable name for every way Verify refuses a request. They are meant
// for logs and metric labels; clients see Code and Message instead.
const (
	ReasonMissingAuthentication = "missing-authentication"     // no Authorization header, no presigned query
	ReasonBothAuthForms         = "both-auth-forms"            // Authorization header and X-Amz-* query at once
	ReasonIncompleteHeader      = "incomplete-authorization"   // Authorization lacks Credential/SignedHeaders/Signature, or no date
	ReasonIncompleteQuery       = "incomplete-presigned-query" // presigned URL lacks a required X-Amz-* parameter
	ReasonMalformedHeader       = "malformed-authorization"    // a part of Authorization is not key=value, or repeats
	ReasonDuplicateQueryParam   = "duplicate-auth-param"       // an X-Amz-* auth parameter appears twice in the query
	ReasonMalformedDate         = "malformed-date"             // X-Amz-Date / Date unparsable
	ReasonSignatureExpired      = "signature-expired"          // signed more than MaxSkew ago
	ReasonSignatureNotYet       = "signature-not-yet-current"  // signed more than MaxSkew in the future
	ReasonPresignExpired        = "presigned-url-expired"      // presigned URL older than its lifetime
	ReasonInvalidExpires        = "invalid-expires"            // X-Amz-Expires not an integer in range
	ReasonHostNotSigned         = "host-not-signed"            // SignedHeaders lacks host
	ReasonUnsupportedAlgorithm  = "unsupported-algorithm"      // not AWS4-HMAC-SHA256
	ReasonMalformedCredential   = "malformed-credential"       // Credential is not AKID/date/region/service/aws4_request
	ReasonWrongRegion           = "wrong-region"
	ReasonWrongService          = "wrong-service"
	ReasonWrongTerminator       = "wrong-terminator"
	ReasonScopeDateMismatch     = "scope-date-mismatch" // scope date differs from the request date
	ReasonUnknownKey            = "unknown-access-key"
	ReasonLookupFailed          = "credential-lookup-failed" // the CredentialSource failed (not the client's fault)
	ReasonPayloadHashMismatch   = "payload-hash-mismatch"    // signed X-Amz-Content-Sha256 differs from the body
	ReasonUnsignedPayload       = "unsigned-payload"         // UNSIGNED-PAYLOAD on a header-signed request
	ReasonInvalidPayloadHash    = "invalid-payload-hash"     // X-Amz-Content-Sha256 neither a hash nor UNSIGNED-PAYLOAD
	ReasonSignatureMismatch     = "signature-mismatch"
	ReasonSessionTokenMissing   = "session-token-missing"    // temporary key used without its token
	ReasonSessionTokenNotSigned = "session-token-not-signed" // token header present but not in SignedHeaders
	ReasonSessionTokenMismatch  = "session-token-mismatch"
	ReasonUnexpectedToken       = "unexpected-session-token" // long-term key sent with a session token
	ReasonExpiredToken          = "expired-session-token"
)

// Message texts. Where AWS has a fixed text we use it verbatim (including trailing
// spaces), because clients and humans grep for them.
const (
	msgMissingAuthentication = "Missing Authentication Token"
	msgSignatureMismatch     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInvalidToken          = "The security token included in the request is invalid."
	msgExpiredToken          = "The security token included in the request is expired"
	msgHostNotSigned         = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	msgBothAuthForms         = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
	msgWrongRegion           = "Credential should be scoped to a valid region. "
	msgWrongServiceFmt       = "Credential should be scoped to correct service: '%s'. "
	msgWrongTerminatorFmt    = "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. "
	msgScopeDateFmt          = "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'. "
	// AWS appends "got '<credential>'" here; we leave it out because a user who swapped
	// key id and secret would get the secret echoed into responses and logs.
	msgMalformedCredential = "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term."
	msgMalformedDateFmt    = "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601"
	msgUnsupportedAlgFmt   = "Unsupported AWS 'algorithm': '%s' (only AWS4-HMAC-SHA256 for now). "
	msgMalformedHeader     = "Authorization header must be 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...' with each parameter once."
	msgDuplicateParamFmt   = "AWS query-string parameter '%s' must appear only once. Re-examine the query-string parameters."
	msgInvalidExpires      = "X-Amz-Expires must be an integer number of seconds from 1 to 604800 (one week)."
	msgPayloadHashMismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgUnsignedPayload     = "UNSIGNED-PAYLOAD is only accepted on presigned requests."
	msgInvalidPayloadHash  = "x-amz-content-sha256 must be the hex SHA-256 of the payload."
	msgLookupFailed        = "An internal error occurred while authenticating the request."
)

// Rejection says why a request was refused, as the AWS front end would.
type Rejection struct {
	Code    string // modeled error type, e.g. "InvalidSignatureException"
	Message string // the AWS message text
	Reason  string // short machine reason for logs, e.g. "signature-mismatch" (a Reason* const)
	Status  int    // HTTP status
}

func (r *Rejection) Error() string {
	return "auth: " + r.Code + " (" + r.Reason + "): " + r.Message
}

func reject(status int, code, reason, msg string) *Rejection {
	return &Rejection{Code: code, Message: msg, Reason: reason, Status: status}
}

// IncompleteSignatureException is 400, not 403: AWS answers malformed signatures with
// "400 Bad Request" (e.g. IAM, SQS and DynamoDB replies quoted in aws-sdk-go#1042 and
// boto3#1081; the common-errors page of every service lists IncompleteSignature as 400).
func incomplete(reason, msg string) *Rejection {
	return reject(http.StatusBadRequest, CodeIncompleteSignature, reason, msg)
}

func invalidSignature(reason, msg string) *Rejection {
	return reject(http.StatusForbidden, CodeInvalidSignature, reason, msg)
}

func unrecognizedClient(reason string) *Rejection {
	return reject(http.StatusForbidden, CodeUnrecognizedClient, reason, msgInvalidToken)
}

// skewMessage renders the AWS clock-skew texts, e.g.
//
//	Signature expired: 20261127T120000Z is now earlier than 20261127T121500Z (20261127T122000Z - 5 min.)
//	Signature not yet current: 20261127T123000Z is still later than 20261127T122500Z (20261127T122000Z + 5 min.)
func skewMessage(signed, now time.Time, window time.Duration, future bool) string {
	if future {
		return "Signature not yet current: " + signed.UTC().Format(amzDateLayout) +
			" is still later than " + now.Add(window).UTC().Format(amzDateLayout) +
			" (" + now.UTC().Format(amzDateLayout) + " + " + humanWindow(window) + ")"
	}
	return "Signature expired: " + signed.UTC().Format(amzDateLayout) +
		" is now earlier than " + now.Add(-window).UTC().Format(amzDateLayout) +
		" (" + now.UTC().Format(amzDateLayout) + " - " + humanWindow(window) + ")"
}

func humanWindow(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", d/time.Minute)
	}
	return fmt.Sprintf("%d sec.", d/time.Second)
}

// printable makes client input safe to quote in a message: printable ASCII only, short.
func printable(s string) string {
	const max = 64
	var b strings.Builder
	for i := 0; i < len(s) && i < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	if len(s) > max {
		b.WriteString("...")
	}
	return b.String()
}
