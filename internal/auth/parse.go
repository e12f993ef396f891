package auth

import (
	"net/http"
	"strings"
	"time"
)

// claim is what a request says about its own signature, read from the Authorization
// header or from a presigned query string. Nothing in it is trusted yet.
type claim struct {
	presigned     bool
	algorithm     string
	credential    string // AKID/YYYYMMDD/region/service/aws4_request
	signedHeaders string // "host;x-amz-date", exactly as sent
	signature     string // lower-case hex
	date          string // X-Amz-Date; "" when only a Date header is present

	// presigned only
	expires          string
	hasExpires       bool
	securityToken    string
	hasSecurityToken bool
	contentSHA256    string
	hasContentSHA256 bool
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
// Parts may be separated by commas, spaces or both, as AWS accepts. ok is false when a
// part is not key=value or a known key repeats; missing keys are left empty for the
// caller to report all at once, as AWS does.
func parseAuthorization(h string) (c claim, ok bool) {
	h = strings.Trim(h, " \t")
	end := strings.IndexAny(h, " \t,")
	if end < 0 {
		c.algorithm = h
		return c, true
	}
	c.algorithm, h = h[:end], h[end:]
	for h != "" {
		h = strings.TrimLeft(h, " \t,")
		if h == "" {
			break
		}
		end := strings.IndexAny(h, " \t,")
		if end < 0 {
			end = len(h)
		}
		part := h[:end]
		h = h[end:]
		key, value, found := strings.Cut(part, "=")
		if !found {
			return c, false
		}
		var dst *string
		switch key {
		case "Credential":
			dst = &c.credential
		case "SignedHeaders":
			dst = &c.signedHeaders
		case "Signature":
			dst = &c.signature
		default:
			continue // AWS ignores parameters it does not know
		}
		if *dst != "" {
			return c, false
		}
		*dst = value
	}
	return c, true
}

// Presigned query parameter names. AWS matches them case-sensitively.
const (
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramSecurityToken = "X-Amz-Security-Token"
	paramContentSHA256 = "X-Amz-Content-Sha256"
)

// parsePresigned collects the X-Amz-* auth parameters of a query string. present is
// true when the query carries any sign of being presigned; duplicate names the first
// auth parameter that appears more than once (a second copy could smuggle a value past
// whichever copy a later reader picks).
func parsePresigned(rawQuery string) (c claim, present bool, duplicate string) {
	c.presigned = true
	var seen uint8
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" || (pair[0] != 'X' && pair[0] != '%') {
			continue // fast path: every auth parameter starts with "X-Amz-"
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		var dst *string
		var flag uint8
		switch queryUnescape(rawKey) {
		case paramAlgorithm:
			dst, flag = &c.algorithm, 1<<0
		case paramCredential:
			dst, flag = &c.credential, 1<<1
		case paramDate:
			dst, flag = &c.date, 1<<2
		case paramExpires:
			dst, flag = &c.expires, 1<<3
			c.hasExpires = true
		case paramSignedHeaders:
			dst, flag = &c.signedHeaders, 1<<4
		case paramSignature:
			dst, flag = &c.signature, 1<<5
		case paramSecurityToken:
			dst, flag = &c.securityToken, 1<<6
			c.hasSecurityToken = true
		case paramContentSHA256:
			dst, flag = &c.contentSHA256, 1<<7
			c.hasContentSHA256 = true
		default:
			continue
		}
		if seen&flag != 0 && duplicate == "" {
			duplicate = queryUnescape(rawKey)
		}
		seen |= flag
		*dst = queryUnescape(rawValue)
	}
	present = seen&(1<<0|1<<1|1<<5) != 0 // algorithm, credential or signature
	return c, present, duplicate
}

// amzDateLayout is the SigV4 timestamp format (ISO 8601 basic, UTC).
const amzDateLayout = "20060102T150405Z"

// parseAmzDate parses 20060102T150405Z strictly, without allocating.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	var n [6]int
	for i, span := range [6][2]int{{0, 4}, {4, 6}, {6, 8}, {9, 11}, {11, 13}, {13, 15}} {
		for j := span[0]; j < span[1]; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			n[i] = n[i]*10 + int(c-'0')
		}
	}
	t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, time.UTC)
	// time.Date normalizes 2026-02-30 to March 2nd; such a date was never valid.
	if t.Year() != n[0] || int(t.Month()) != n[1] || t.Day() != n[2] ||
		t.Hour() != n[3] || t.Minute() != n[4] || t.Second() != n[5] {
		return time.Time{}, false
	}
	return t, true
}

// requestDate finds the signing time of a header-signed request: X-Amz-Date, or else an
// RFC 1123 Date header (which botocore signs when the request already has one).
// amzDate is the value in the 20060102T150405Z form the string to sign uses.
func requestDate(h http.Header) (t time.Time, amzDate, raw string, present, ok bool) {
	if v := h["X-Amz-Date"]; len(v) > 0 {
		t, ok = parseAmzDate(v[0])
		return t, v[0], v[0], true, ok
	}
	if v := h["Date"]; len(v) > 0 {
		t, ok := parseHTTPDate(v[0])
		if !ok {
			return time.Time{}, "", v[0], true, false
		}
		return t, t.Format(amzDateLayout), v[0], true, true
	}
	return time.Time{}, "", "", false, false
}

// parseExpires reads X-Amz-Expires: decimal seconds, no sign, at most a week's digits.
func parseExpires(s string) (int, bool) {
	if s == "" || len(s) > 7 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseHTTPDate accepts the HTTP date forms net/http knows plus RFC 1123 with a numeric
// zone, which is what botocore writes (email.utils.formatdate: "... 12:00:00 -0000").
func parseHTTPDate(s string) (time.Time, bool) {
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), true
	}
	for _, layout := range []string{time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
