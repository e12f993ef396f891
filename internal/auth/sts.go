package auth

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	stsNamespace  = "https://sts.amazonaws.com/doc/2011-06-15/"
	stsAPIVersion = "2011-06-15"

	// maxQueryBody bounds what an STS call may upload; GetCallerIdentity needs ~50 bytes.
	maxQueryBody = 1 << 20
	// bodyReadTimeout stops a client that sends its body slowly from holding a handler.
	bodyReadTimeout = 30 * time.Second

	formContentType = "application/x-www-form-urlencoded"
	xmlContentType  = "text/xml"
	requestIDHeader = "x-amzn-RequestId"

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

// STSHandler answers STS query-protocol calls after verifying them with v. Supported: GetCallerIdentity.
// Other actions → XML error InvalidAction (400). Rejections → XML ErrorResponse with the Rejection's code and status.
// requestID func gives the request id to put in ResponseMetadata / x-amzn-RequestId.
func NewSTSHandler(v *Verifier, requestID func(*http.Request) string) http.Handler {
	if requestID == nil {
		requestID = func(*http.Request) string { return uuid.NewString() }
	}
	return &stsHandler{verifier: v, requestID: requestID, readTimeout: bodyReadTimeout}
}

type stsHandler struct {
	verifier    *Verifier
	requestID   func(*http.Request) string
	readTimeout time.Duration
}

func (h *stsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := h.requestID(r)
	w.Header().Set(requestIDHeader, reqID)

	body, status, code, msg := readQueryBody(w, r, h.readTimeout)
	if status != 0 {
		writeSTSError(w, reqID, status, code, msg)
		return
	}

	// Authenticate before looking at the action, as AWS does: an unsigned call learns
	// nothing about which actions exist.
	cred, rej := h.verifier.Verify(r, body, stsSigningName)
	if rej != nil {
		writeSTSError(w, reqID, rej.Status, rej.Code, rej.Message)
		return
	}

	params := queryParams(r, body)
	action := params.Get("Action")
	switch {
	case action == "":
		writeSTSError(w, reqID, http.StatusBadRequest, "MissingAction", "Missing Action")
	case params.Has("Version") && params.Get("Version") != stsAPIVersion,
		action != actionGetCallerIdentity:
		version := params.Get("Version")
		if version == "" {
			version = stsAPIVersion
		}
		writeSTSError(w, reqID, http.StatusBadRequest, "InvalidAction",
			"Could not find operation "+printable(action)+" for version "+printable(version))
	default:
		writeCallerIdentity(w, reqID, cred)
	}
}

// readQueryBody reads at most maxQueryBody bytes, with a deadline so a slow client cannot
// hold the handler. status is non-zero when the body could not be read.
func readQueryBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) (body []byte, status int, code, msg string) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, 0, "", ""
	}
	if r.ContentLength > maxQueryBody {
		return nil, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body is larger than 1 MiB."
	}
	// Not every ResponseWriter supports deadlines (httptest's does not); the server's own
	// timeouts still apply then.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err != nil {
		// The deadline stays in place: net/http tries to drain the rest of the body
		// before replying, and must fail fast and drop the connection, not wait.
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body is larger than 1 MiB."
		}
		return nil, http.StatusBadRequest, "MalformedQueryString", "Could not read the request body."
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, 0, "", ""
}

// queryParams merges the URL query and, for form posts, the body. Body values win, as
// they are what the SDKs send for POST.
func queryParams(r *http.Request, body []byte) url.Values {
	// ParseQuery keeps every well-formed pair even when it reports a bad one.
	params := url.Values{}
	if r.URL != nil {
		params, _ = url.ParseQuery(r.URL.RawQuery)
	}
	if isFormContentType(r.Header.Get("Content-Type")) {
		form, _ := url.ParseQuery(string(body))
		for k, v := range form {
			params[k] = v
		}
	}
	return params
}

func writeCallerIdentity(w http.ResponseWriter, reqID string, cred *Credential) {
	var b strings.Builder
	b.WriteString(`<GetCallerIdentityResponse xmlns="` + stsNamespace + `"><GetCallerIdentityResult><Arn>`)
	xmlText(&b, cred.Arn)
	b.WriteString(`</Arn><UserId>`)
	xmlText(&b, cred.UserID)
	b.WriteString(`</UserId><Account>`)
	xmlText(&b, cred.AccountID)
	b.WriteString(`</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>`)
	xmlText(&b, reqID)
	b.WriteString(`</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	writeXML(w, http.StatusOK, b.String())
}

func writeSTSError(w http.ResponseWriter, reqID string, status int, code, msg string) {
	// Type is "Receiver" when the fault is the service's, as in AWS query-protocol errors.
	kind := "Sender"
	if status >= 500 {
		kind = "Receiver"
	}
	var b strings.Builder
	b.WriteString(`<ErrorResponse xmlns="` + stsNamespace + `"><Error><Type>` + kind + `</Type><Code>`)
	xmlText(&b, code)
	b.WriteString(`</Code><Message>`)
	xmlText(&b, msg)
	b.WriteString(`</Message></Error><RequestId>`)
	xmlText(&b, reqID)
	b.WriteString(`</RequestId></ErrorResponse>`)
	writeXML(w, status, b.String())
}

func writeXML(w http.ResponseWriter, status int, doc string) {
	w.Header().Set("Content-Type", xmlContentType)
	w.WriteHeader(status)
	io.WriteString(w, doc)
}

func xmlText(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s)) // writes to a strings.Builder cannot fail
}
