package auth

import (
	"net/http"
	"strings"
)

const (
	stsAPIVersion           = "2011-06-15"
	formContentType         = "application/x-www-form-urlencoded"
	actionGetCallerIdentity = "GetCallerIdentity"
)

// IsQueryRequest reports whether r is an AWS query-protocol call (POST form body or GET with Action=) rather than an EKS REST call.
func IsQueryRequest(r *http.Request) bool {
	if r == nil {
		return false
	}
	if r.Method == http.MethodPost && isFormContentType(r.Header.Get("Content-Type")) {
		return true
	}
	if (r.Method == http.MethodGet || r.Method == "") && r.URL != nil {
		return queryHasKey(r.URL.RawQuery, "Action")
	}
	return false
}

func isFormContentType(ct string) bool {
	mediaType, _, _ := strings.Cut(ct, ";") // botocore adds "; charset=utf-8"
	return strings.EqualFold(strings.TrimSpace(mediaType), formContentType)
}

func queryHasKey(rawQuery, key string) bool {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, _, _ := strings.Cut(pair, "=")
		if queryUnescape(k) == key {
			return true
		}
	}
	return false
}
