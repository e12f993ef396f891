package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSigningScope(t *testing.T) {
	header := func(v string) *http.Request {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", v)
		return r
	}
	for _, c := range []struct {
		r               *http.Request
		service, region string
	}{
		{header("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/ec2/aws4_request, SignedHeaders=host, Signature=x"), "ec2", "us-west-2"},
		{header("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/iam/aws4_request,SignedHeaders=host,Signature=x"), "iam", "us-east-1"},
		{httptest.NewRequest("GET", "/?Action=GetCallerIdentity&X-Amz-Credential=AKID%2F20260101%2Fus-west-2%2Fsts%2Faws4_request", nil), "sts", "us-west-2"},
		{header("AWS4-HMAC-SHA256 Credential=AKID/20260101/ec2"), "", ""},
		{httptest.NewRequest("POST", "/", nil), "", ""},
	} {
		if s, r := SigningScope(c.r); s != c.service || r != c.region {
			t.Errorf("%v: %q %q, want %q %q", c.r.Header, s, r, c.service, c.region)
		}
	}
}
