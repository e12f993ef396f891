package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// SigningScope reads the service and region of a request's SigV4 credential
// scope (AKID/date/region/service/aws4_request), header or presigned form,
// so one endpoint can route each call to its service as AWS's endpoints do
// by host name. It only routes: Verify checks the scope properly.
func SigningScope(r *http.Request) (service, region string) {
	var credential string
	if a := r.Header.Get("Authorization"); a != "" {
		if _, rest, ok := strings.Cut(a, "Credential="); ok {
			credential, _, _ = strings.Cut(rest, ",")
			credential = strings.TrimSpace(credential)
		}
	} else if r.URL != nil && strings.Contains(r.URL.RawQuery, "X-Amz-Credential") {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		credential = q.Get("X-Amz-Credential")
	}
	parts := strings.Split(credential, "/")
	if len(parts) < 5 {
		return "", ""
	}
	return parts[3], parts[2]
}
