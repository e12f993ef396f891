// Package authn is the token webhook each cluster's kube-apiserver calls
// (--authentication-token-webhook-config-file) to authenticate `aws eks get-token`
// bearer tokens, as aws-iam-authenticator does for EKS. The token is checked inside
// kplane (auth.TokenVerifier, no call to STS); a Mapper then decides which Kubernetes
// user, if any, the AWS identity is in that cluster.
//
// The TokenReview types are written out by hand: this package does not import k8s.io.
package authn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/auth"
)

const (
	apiVersionV1      = "authentication.k8s.io/v1"
	apiVersionV1beta1 = "authentication.k8s.io/v1beta1"
	kindTokenReview   = "TokenReview"

	// maxReviewBody bounds a TokenReview: the token is at most 4 KiB, the rest is small.
	maxReviewBody = 64 << 10

	// defaultCacheSize is how many verified tokens the handler remembers. One entry is a
	// few hundred bytes; a token is reused by kubectl for 14 minutes.
	defaultCacheSize = 4096

	// uidPrefix makes the default UID what aws-iam-authenticator (and so EKS) gives:
	// aws-iam-authenticator:ACCOUNT:PRINCIPALID.
	uidPrefix = "aws-iam-authenticator:"
)

// The extra keys EKS sets on every authenticated user (aws-iam-authenticator server.go).
const (
	ExtraARN          = "arn"
	ExtraCanonicalARN = "canonicalArn"
	ExtraSessionName  = "sessionName"
	ExtraAccessKeyID  = "accessKeyId"
	ExtraPrincipalID  = "principalId"
)

// Reasons a review is refused besides the token's own (auth.TokenReason*). Each goes into
// status.error and the log.
const (
	ReasonMalformedReview = "malformed-token-review" // not a TokenReview of authentication.k8s.io/v1 or v1beta1
	ReasonMissingToken    = "missing-token"          // spec.token empty
	ReasonUnknownCluster  = "unknown-cluster"        // clusterName(clusterID) said no
	ReasonNoAccess        = "no-access"              // the Mapper has no user for this identity in this cluster
	ReasonMapperFailed    = "mapper-failed"          // the Mapper failed (answered 500, so kube-apiserver retries)
	ReasonInternal        = "internal-error"         // a panic or a token check kplane could not complete (500)
)

// User is the Kubernetes user an AWS identity is in one cluster.
type User struct {
	Username string
	UID      string // "" means aws-iam-authenticator:ACCOUNT:PRINCIPALID, as EKS sets it
	Groups   []string
	Extra    map[string][]string // merged with the EKS extras (arn, canonicalArn, ...), which win
}

// Mapper turns a verified AWS identity into a Kubernetes user for one cluster; ok=false means no access (401).
type Mapper interface {
	Map(ctx context.Context, clusterID string, id *auth.TokenIdentity) (user User, ok bool, err error)
}

// MapperFunc adapts a function to Mapper.
type MapperFunc func(ctx context.Context, clusterID string, id *auth.TokenIdentity) (User, bool, error)

// Map implements Mapper.
func (f MapperFunc) Map(ctx context.Context, clusterID string, id *auth.TokenIdentity) (User, bool, error) {
	return f(ctx, clusterID, id)
}

// tokenReview is the part of authentication.k8s.io/v1 (and v1beta1, the same shape)
// TokenReview this webhook reads and writes.
type tokenReview struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Spec       *reviewSpec  `json:"spec,omitempty"` // read only: never written back, it holds the token
	Status     reviewStatus `json:"status"`
}

type reviewSpec struct {
	Token     string   `json:"token"`
	Audiences []string `json:"audiences,omitempty"`
}

type reviewStatus struct {
	Authenticated bool        `json:"authenticated"`
	User          *reviewUser `json:"user,omitempty"`
	Error         string      `json:"error,omitempty"`
}

type reviewUser struct {
	Username string              `json:"username"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// WebhookPath is where kplane serves each cluster's TokenReviews: its
// apiserver's webhook URL is kplane's URL + WebhookPath + cluster id.
const WebhookPath = "/_kplane/authn/"

// Handler serves POST {prefix}/{clusterID} with an authentication.k8s.io/v1 TokenReview and answers it.
// clusterName(clusterID) gives the cluster's name for the x-k8s-aws-id check (ok=false → unauthenticated).
//
// The cluster id is the request's "clusterID" path value when the handler is mounted
// with a pattern such as "POST /_kplane/authn/{clusterID}", else the last path segment.
// Verified tokens are cached (keyed by SHA-256 of cluster name and token, until the
// token expires); the Mapper is asked on every review, so revoking access takes effect
// at once.
func NewHandler(tv *auth.TokenVerifier, clusterName func(clusterID string) (string, bool), m Mapper, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{tv: tv, clusterName: clusterName, mapper: m, log: log, cache: newTokenCache(defaultCacheSize)}
}

type handler struct {
	tv          *auth.TokenVerifier
	clusterName func(string) (string, bool)
	mapper      Mapper
	log         *slog.Logger
	cache       *tokenCache // nil: no cache
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clusterID := clusterIDOf(r)
	apiVersion := apiVersionV1
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("token review panicked", "clusterId", clusterID, "panic", fmt.Sprint(p))
			writeReview(w, http.StatusInternalServerError, apiVersion, reviewStatus{Error: ReasonInternal})
		}
	}()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBody))
	if err != nil {
		h.refuse(w, http.StatusBadRequest, apiVersion, clusterID, ReasonMalformedReview, "body unreadable or larger than 64 KiB")
		return
	}
	var review tokenReview
	if err := json.Unmarshal(body, &review); err != nil {
		h.refuse(w, http.StatusBadRequest, apiVersion, clusterID, ReasonMalformedReview, "not JSON")
		return
	}
	switch review.APIVersion {
	case apiVersionV1, apiVersionV1beta1:
		apiVersion = review.APIVersion // answer in the version asked
	default:
		h.refuse(w, http.StatusOK, apiVersion, clusterID, ReasonMalformedReview, "unsupported apiVersion")
		return
	}
	if review.Kind != kindTokenReview {
		h.refuse(w, http.StatusOK, apiVersion, clusterID, ReasonMalformedReview, "not a TokenReview")
		return
	}
	if review.Spec == nil || review.Spec.Token == "" {
		h.refuse(w, http.StatusOK, apiVersion, clusterID, ReasonMissingToken, "")
		return
	}

	name, ok := "", false
	if clusterID != "" && h.clusterName != nil {
		name, ok = h.clusterName(clusterID)
	}
	if !ok || name == "" {
		h.refuse(w, http.StatusOK, apiVersion, clusterID, ReasonUnknownCluster, "")
		return
	}

	id, rej := h.verify(r.Context(), review.Spec.Token, name)
	if rej != nil {
		status := http.StatusOK
		if rej.Status >= http.StatusInternalServerError {
			status = http.StatusInternalServerError
		}
		h.refuse(w, status, apiVersion, clusterID, rej.Reason, "")
		return
	}

	if h.mapper == nil {
		h.refuse(w, http.StatusOK, apiVersion, clusterID, ReasonNoAccess, "", "arn", id.ARN)
		return
	}
	user, ok, err := h.mapper.Map(r.Context(), clusterID, id)
	switch {
	case err != nil:
		h.refuse(w, http.StatusInternalServerError, apiVersion, clusterID, ReasonMapperFailed, err.Error(), "arn", id.ARN)
		return
	case !ok:
		h.refuse(w, http.StatusOK, apiVersion, clusterID, ReasonNoAccess, "", "arn", id.ARN)
		return
	case user.Username == "":
		h.refuse(w, http.StatusInternalServerError, apiVersion, clusterID, ReasonMapperFailed, "mapper gave an empty username", "arn", id.ARN)
		return
	}

	h.log.Debug("token review accepted", "clusterId", clusterID, "arn", id.ARN, "username", user.Username)
	writeReview(w, http.StatusOK, apiVersion, reviewStatus{Authenticated: true, User: reviewUserOf(user, id)})
}

// verify checks a token, from the cache when it was verified for this cluster name before.
func (h *handler) verify(ctx context.Context, token, clusterName string) (*auth.TokenIdentity, *auth.Rejection) {
	if h.cache == nil {
		return h.tv.VerifyContext(ctx, token, clusterName)
	}
	key := cacheKey(clusterName, token)
	now := h.now()
	if id, ok := h.cache.get(key, now); ok {
		return id, nil
	}
	id, rej := h.tv.VerifyContext(ctx, token, clusterName)
	if rej == nil && now.Before(id.ExpiresAt) {
		h.cache.put(key, id)
	}
	return id, rej
}

// now reads the clock the TokenVerifier reads, so cache entries expire with the token.
func (h *handler) now() time.Time {
	switch {
	case h.tv == nil:
	case h.tv.Now != nil:
		return h.tv.Now()
	case h.tv.Verifier != nil && h.tv.Verifier.Now != nil:
		return h.tv.Verifier.Now()
	}
	return time.Now()
}

// refuse logs why a review failed (never the token) and answers authenticated=false.
func (h *handler) refuse(w http.ResponseWriter, status int, apiVersion, clusterID, reason, detail string, attrs ...any) {
	args := append([]any{"clusterId", clusterID, "reason", reason}, attrs...)
	if detail != "" {
		args = append(args, "detail", detail)
	}
	level := slog.LevelInfo
	if status >= http.StatusInternalServerError {
		level = slog.LevelError
	}
	h.log.Log(context.Background(), level, "token review refused", args...)
	writeReview(w, status, apiVersion, reviewStatus{Error: reason})
}

func reviewUserOf(u User, id *auth.TokenIdentity) *reviewUser {
	extra := make(map[string][]string, len(u.Extra)+5)
	for k, v := range u.Extra {
		extra[k] = v
	}
	extra[ExtraARN] = []string{id.ARN}
	extra[ExtraCanonicalARN] = []string{id.CanonicalARN}
	if id.SessionName != "" {
		extra[ExtraSessionName] = []string{id.SessionName}
	} else {
		delete(extra, ExtraSessionName)
	}
	extra[ExtraAccessKeyID] = []string{id.AccessKeyID}
	extra[ExtraPrincipalID] = []string{id.UserID}
	uid := u.UID
	if uid == "" {
		uid = uidPrefix + id.AccountID + ":" + id.UserID
	}
	return &reviewUser{Username: u.Username, UID: uid, Groups: u.Groups, Extra: extra}
}

func writeReview(w http.ResponseWriter, status int, apiVersion string, st reviewStatus) {
	b, err := json.Marshal(tokenReview{APIVersion: apiVersion, Kind: kindTokenReview, Status: st})
	if err != nil { // only a Mapper's extra could do this, and strings always marshal
		status, b = http.StatusInternalServerError, []byte(`{"apiVersion":"`+apiVersion+`","kind":"TokenReview","status":{"authenticated":false,"error":"`+ReasonInternal+`"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// clusterIDOf finds the cluster id: the {clusterID} path value, else the last segment.
func clusterIDOf(r *http.Request) string {
	if id := r.PathValue("clusterID"); id != "" {
		return id
	}
	if r.URL == nil {
		return ""
	}
	p := r.URL.Path
	return p[strings.LastIndexByte(p, '/')+1:]
}
