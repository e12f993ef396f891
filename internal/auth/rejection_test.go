package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	eksClusters = "https://" + testEKSHost + "/clusters"
	stsGetToken = "https://" + testSTSHost + "/?Action=GetCallerIdentity&Version=2011-06-15"
)

var jsonBody = []byte(`{"name":"demo"}`)

// Every rejection reason, each provoked from an otherwise valid request.
func TestRejections(t *testing.T) {
	now := signTime.Add(time.Minute)
	signed := func(t *testing.T, o signOpts) (*http.Request, []byte) {
		if o.headers == nil {
			o.headers = map[string]string{"Content-Type": "application/json"}
		}
		return sdkSign(t, "POST", eksClusters, jsonBody, o)
	}
	presigned := func(t *testing.T, o signOpts) (*http.Request, []byte) {
		return sdkPresign(t, "GET", eksClusters, "300", o)
	}

	cases := []struct {
		name    string
		build   func(t *testing.T) (*http.Request, []byte)
		service string // default "eks"
		code    string
		status  int
		reason  string
		message string // exact message, when AWS has a fixed one
	}{
		{
			name: "no authentication",
			build: func(t *testing.T) (*http.Request, []byte) {
				return overTheWire(t, newClientRequest(t, "GET", eksClusters, nil, nil))
			},
			code: CodeMissingAuthenticationToken, status: 403, reason: ReasonMissingAuthentication,
			message: "Missing Authentication Token",
		},
		{
			name: "other authorization scheme",
			build: func(t *testing.T) (*http.Request, []byte) {
				return overTheWire(t, newClientRequest(t, "GET", eksClusters, nil, map[string]string{"Authorization": "Bearer abc"}))
			},
			code: CodeMissingAuthenticationToken, status: 403, reason: ReasonMissingAuthentication,
		},
		{
			name: "header and presigned query at once",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := presigned(t, signOpts{})
				h, _ := signed(t, signOpts{})
				r.Header.Set("Authorization", h.Header.Get("Authorization"))
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonBothAuthForms,
			message: msgBothAuthForms,
		},
		{
			name: "authorization lacks parameters and date",
			build: func(t *testing.T) (*http.Request, []byte) {
				return overTheWire(t, newClientRequest(t, "GET", eksClusters, nil, map[string]string{
					"Authorization": "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20261127/us-west-2/eks/aws4_request"}))
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonIncompleteHeader,
			message: "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. " +
				"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
		},
		{
			name: "authorization part without equal sign",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				r.Header.Set("Authorization", r.Header.Get("Authorization")+", Extra")
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonMalformedHeader,
		},
		{
			name: "authorization repeats a parameter",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				r.Header.Set("Authorization", r.Header.Get("Authorization")+", Credential=AKIAOTHER/20261127/us-west-2/eks/aws4_request")
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonMalformedHeader,
		},
		{
			name: "presigned query lacks signature",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := presigned(t, signOpts{})
				dropQueryParam(r, paramSignature)
				dropQueryParam(r, paramDate)
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonIncompleteQuery,
			message: "AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.",
		},
		{
			name: "presigned query repeats a parameter",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := presigned(t, signOpts{})
				r.URL.RawQuery += "&X-Amz-Credential=AKIAOTHER%2F20261127%2Fus-west-2%2Feks%2Faws4_request"
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonDuplicateQueryParam,
		},
		{
			name: "malformed X-Amz-Date",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				r.Header.Set("X-Amz-Date", "2026-11-27T12:00:00Z")
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonMalformedDate,
			message: "Date must be in ISO-8601 'basic format'. Got '2026-11-27T12:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601",
		},
		{
			name: "impossible X-Amz-Date",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				r.Header.Set("X-Amz-Date", "20260230T120000Z")
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonMalformedDate,
		},
		{
			name: "malformed presigned X-Amz-Date",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := presigned(t, signOpts{})
				setQueryParam(t, r, paramDate, "yesterday")
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonMalformedDate,
		},
		{
			name:  "signature expired",
			build: func(t *testing.T) (*http.Request, []byte) { return signed(t, signOpts{at: now.Add(-6 * time.Minute)}) },
			code:  CodeInvalidSignature, status: 403, reason: ReasonSignatureExpired,
		},
		{
			name:  "signature not yet current",
			build: func(t *testing.T) (*http.Request, []byte) { return signed(t, signOpts{at: now.Add(6 * time.Minute)}) },
			code:  CodeInvalidSignature, status: 403, reason: ReasonSignatureNotYet,
		},
		{
			name: "presigned URL expired",
			build: func(t *testing.T) (*http.Request, []byte) {
				return sdkPresign(t, "GET", eksClusters, "30", signOpts{})
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonPresignExpired,
		},
		{
			name: "X-Amz-Expires out of range",
			build: func(t *testing.T) (*http.Request, []byte) {
				return sdkPresign(t, "GET", eksClusters, "604801", signOpts{})
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonInvalidExpires,
		},
		{
			name: "host not signed",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				setAuthParam(t, r, "SignedHeaders", "content-length;content-type;x-amz-date")
				return r, body
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonHostNotSigned,
			message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
		},
		{
			name: "unsupported algorithm",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1))
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonUnsupportedAlgorithm,
			message: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ",
		},
		{
			name: "credential with four elements",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				setAuthParam(t, r, "Credential", testAKID+"/20261127/us-west-2/eks")
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonMalformedCredential,
		},
		{
			name: "secret pasted as key id",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				setAuthParam(t, r, "Credential", testSecret+"/20261127/us-west-2/eks/aws4_request")
				return r, body
			},
			code: CodeIncompleteSignature, status: 400, reason: ReasonMalformedCredential,
		},
		{
			name:  "wrong region",
			build: func(t *testing.T) (*http.Request, []byte) { return signed(t, signOpts{region: "us-east-1"}) },
			code:  CodeInvalidSignature, status: 403, reason: ReasonWrongRegion,
			message: "Credential should be scoped to a valid region. ",
		},
		{
			name:  "wrong service",
			build: func(t *testing.T) (*http.Request, []byte) { return signed(t, signOpts{service: "sts"}) },
			code:  CodeInvalidSignature, status: 403, reason: ReasonWrongService,
			message: "Credential should be scoped to correct service: 'eks'. ",
		},
		{
			name: "wrong region and service together",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{service: "sts", region: "eu-west-1"})
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonWrongRegion,
			message: "Credential should be scoped to a valid region. Credential should be scoped to correct service: 'eks'. ",
		},
		{
			name: "wrong terminator",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				setAuthParam(t, r, "Credential", testAKID+"/20261127/us-west-2/eks/aws5_request")
				return r, body
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonWrongTerminator,
			message: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. ",
		},
		{
			name: "scope date differs from X-Amz-Date",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				setAuthParam(t, r, "Credential", testAKID+"/20261126/us-west-2/eks/aws4_request")
				return r, body
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonScopeDateMismatch,
			message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261126' != '20261127', from '20261127T120000Z'. ",
		},
		{
			name: "unknown access key",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{creds: aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: testSecret}})
			},
			code: CodeUnrecognizedClient, status: 403, reason: ReasonUnknownKey,
			message: "The security token included in the request is invalid.",
		},
		{
			name: "wrong secret",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{creds: aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "not-the-secret"}})
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonSignatureMismatch,
			message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
		},
		{
			name: "body changed after signing",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, _ := signed(t, signOpts{})
				return r, []byte(`{"name":"evil"}`)
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonSignatureMismatch,
		},
		{
			name: "path changed after signing",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				r.URL.Path, r.URL.RawPath = "/clusters/x", ""
				return r, body
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonSignatureMismatch,
		},
		{
			name: "signed header changed after signing",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				r.Header.Set("Content-Type", "text/plain")
				return r, body
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonSignatureMismatch,
		},
		{
			name: "presigned query changed after signing",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := presigned(t, signOpts{})
				r.URL.RawQuery += "&maxResults=1"
				return r, body
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonSignatureMismatch,
		},
		{
			name: "signature in upper-case hex",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{})
				setAuthParam(t, r, "Signature", strings.ToUpper(claimedSignature(r)))
				return r, body
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonSignatureMismatch,
		},
		{
			name: "signed content hash differs from body",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{
					headers: map[string]string{"Content-Type": "application/json", "X-Amz-Content-Sha256": hexSHA256([]byte("other"))},
					payload: hexSHA256([]byte("other")),
				})
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonPayloadHashMismatch,
		},
		{
			name: "UNSIGNED-PAYLOAD on a header-signed request",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{
					headers: map[string]string{"Content-Type": "application/json", "X-Amz-Content-Sha256": unsignedPayload},
					payload: unsignedPayload,
				})
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonUnsignedPayload,
		},
		{
			name: "content hash neither hash nor UNSIGNED-PAYLOAD",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{
					headers: map[string]string{"Content-Type": "application/json", "X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
					payload: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
				})
			},
			code: CodeInvalidSignature, status: 403, reason: ReasonInvalidPayloadHash,
		},
		{
			name: "temporary key without its token",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{creds: aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testTempKey}})
			},
			code: CodeUnrecognizedClient, status: 403, reason: ReasonSessionTokenMissing,
			message: msgInvalidToken,
		},
		{
			name: "token header added after signing",
			build: func(t *testing.T) (*http.Request, []byte) {
				r, body := signed(t, signOpts{creds: aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testTempKey}})
				r.Header.Set("X-Amz-Security-Token", testToken)
				return r, body
			},
			code: CodeUnrecognizedClient, status: 403, reason: ReasonSessionTokenNotSigned,
		},
		{
			name: "wrong token",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{creds: aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testTempKey, SessionToken: "forged"}})
			},
			code: CodeUnrecognizedClient, status: 403, reason: ReasonSessionTokenMismatch,
			message: msgInvalidToken,
		},
		{
			name: "wrong token in presigned URL",
			build: func(t *testing.T) (*http.Request, []byte) {
				return presigned(t, signOpts{creds: aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testTempKey, SessionToken: "forged"}})
			},
			code: CodeUnrecognizedClient, status: 403, reason: ReasonSessionTokenMismatch,
		},
		{
			name: "long-term key with a token",
			build: func(t *testing.T) (*http.Request, []byte) {
				return signed(t, signOpts{creds: aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: testToken}})
			},
			code: CodeUnrecognizedClient, status: 403, reason: ReasonUnexpectedToken,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			service := tc.service
			if service == "" {
				service = "eks"
			}
			r, body := tc.build(t)
			rej := wantRejected(t, verifierAt(now), r, body, service, tc.code, tc.status, tc.reason)
			if tc.message != "" && rej.Message != tc.message {
				t.Errorf("message\n got %q\nwant %q", rej.Message, tc.message)
			}
		})
	}
}

func TestRejectExpiredSessionToken(t *testing.T) {
	r, body := sdkSign(t, "GET", eksClusters, nil, signOpts{creds: tempCreds})
	v := verifierAt(signTime)
	expired := *tempCred
	expired.Expires = signTime.Add(-time.Second)
	v.Credentials = StaticCredentials{testTempAKID: &expired}
	rej := wantRejected(t, v, r, body, "eks", CodeExpiredToken, 403, ReasonExpiredToken)
	if rej.Message != "The security token included in the request is expired" {
		t.Errorf("message %q", rej.Message)
	}
}

type failingSource struct{}

func (failingSource) Lookup(context.Context, string) (*Credential, error) {
	return nil, errors.New("etcd: connection refused")
}

type nilSource struct{}

func (nilSource) Lookup(context.Context, string) (*Credential, error) { return nil, nil }

func TestRejectWhenCredentialSourceFails(t *testing.T) {
	r, body := sdkSign(t, "GET", eksClusters, nil, signOpts{})
	v := verifierAt(signTime)
	v.Credentials = failingSource{}
	rej := wantRejected(t, v, r, body, "eks", CodeInternalFailure, 500, ReasonLookupFailed)
	if strings.Contains(rej.Message, "etcd") {
		t.Errorf("internal error leaks to the client: %q", rej.Message)
	}

	v.Credentials = nilSource{}
	wantRejected(t, v, r, body, "eks", CodeUnrecognizedClient, 403, ReasonUnknownKey)
	v.Credentials = nil
	wantRejected(t, v, r, body, "eks", CodeUnrecognizedClient, 403, ReasonUnknownKey)
	v.Credentials = StaticCredentials{testAKID: {AccessKeyID: testAKID}} // no secret
	wantRejected(t, v, r, body, "eks", CodeUnrecognizedClient, 403, ReasonUnknownKey)
}

// A signed X-Amz-Content-Sha256 that is the body's hash is fine, and a presigned URL may
// carry UNSIGNED-PAYLOAD.
func TestVerifyDeclaredPayloadHash(t *testing.T) {
	v := verifierAt(signTime)
	r, body := sdkSign(t, "POST", eksClusters, jsonBody, signOpts{
		headers: map[string]string{"Content-Type": "application/json", "X-Amz-Content-Sha256": hexSHA256(jsonBody)}})
	wantOK(t, v, r, body, "eks", rootCred)

	r, body = sdkPresign(t, "GET", eksClusters, "60", signOpts{
		headers: map[string]string{"X-Amz-Content-Sha256": unsignedPayload}, payload: unsignedPayload})
	wantOK(t, v, r, body, "eks", rootCred)
}

func TestRejectionError(t *testing.T) {
	r := &Rejection{Code: CodeInvalidSignature, Message: "m", Reason: ReasonSignatureMismatch, Status: 403}
	if got := r.Error(); got != "auth: InvalidSignatureException (signature-mismatch): m" {
		t.Fatal(got)
	}
	var err error = r
	var target *Rejection
	if !errors.As(err, &target) {
		t.Fatal("Rejection is not an error")
	}
}

func TestVerifyNilAndEmptyRequests(t *testing.T) {
	v := verifierAt(signTime)
	if _, rej := v.Verify(nil, nil, "eks"); rej == nil || rej.Reason != ReasonMissingAuthentication {
		t.Fatalf("nil request: %v", rej)
	}
	if _, rej := v.Verify(&http.Request{}, nil, "eks"); rej == nil || rej.Reason != ReasonMissingAuthentication {
		t.Fatalf("empty request: %v", rej)
	}
	var zero Verifier // no credentials, default clock and skew
	r, body := sdkSign(t, "GET", eksClusters, nil, signOpts{at: time.Now()})
	if _, rej := zero.Verify(r, body, "eks"); rej == nil || rej.Reason != ReasonUnknownKey {
		t.Fatalf("zero verifier: %v", rej)
	}
}
