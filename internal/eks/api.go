// Package eks serves the Amazon EKS API 2017-11-01 (restJson1): routing,
// validation and the modeled errors. It records intent in the store; the
// control-plane reconciler does the work and reports back through the store.
package eks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/versions"
)

// Config is what the API needs from the server.
type Config struct {
	Store     *store.Store
	Region    string
	AccountID string
	// ClusterQuota is the most clusters the account may have (EKS's default is 100).
	ClusterQuota int
	// Versions are the Kubernetes versions clusters can run (the support
	// calendar narrowed to the minors whose components kplane has).
	Versions versions.Calendar
	// UnsupportedZones are availability zones CreateCluster refuses.
	UnsupportedZones []string
	// IssuerBase is the URL under which cluster OIDC issuers are served.
	IssuerBase string
	// RoleExists checks CreateCluster's roleArn; nil accepts any well-formed ARN.
	RoleExists func(ctx context.Context, arn string) (bool, error)
	// Authorizer decides every call with IAM's policies; nil allows all.
	Authorizer policy.Authorizer
	// KeyUsable checks an encryptionConfig's KMS key: "" if it is an enabled
	// symmetric key of the account and region, else why not. nil accepts any
	// well-formed ARN.
	KeyUsable func(ctx context.Context, keyArn string) (problem string, err error)
	Log       *slog.Logger
	Now       func() time.Time
}

// API is the EKS REST API.
type API struct {
	cfg    Config
	limits Limits
}

// New returns the API over cfg.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ClusterQuota == 0 {
		cfg.ClusterQuota = 100
	}
	lim := Limits{Region: cfg.Region, UnsupportedZones: cfg.UnsupportedZones, MaxTags: 50}
	return &API{cfg: cfg, limits: lim}
}

// currentLimits are the limits with today's creatable versions: those of the
// calendar not past their extended support (EKS creates no cluster on an
// UNSUPPORTED version).
func (a *API) currentLimits() Limits {
	lim := a.limits
	now := a.cfg.Now()
	for _, m := range a.cfg.Versions.Versions {
		if m.Status(now) != versions.Unsupported {
			lim.Versions = append(lim.Versions, m.Version)
		}
	}
	return lim
}

// defaultVersion is the version a cluster gets when the request names none.
func (a *API) defaultVersion() string {
	return a.cfg.Versions.Default(a.cfg.Now(), nil)
}

// call is one request as the handlers see it.
type call struct {
	r      *http.Request
	body   []byte
	params params
	query  url.Values
	caller string           // the caller's IAM ARN
	cred   *auth.Credential // the verified caller
}

// Serve answers one authenticated EKS request. body is the whole request
// body; cred is the verified principal.
func (a *API) Serve(w http.ResponseWriter, r *http.Request, body []byte, cred *auth.Credential) {
	rt, p, err := match(r.Method, r.URL.EscapedPath())
	if err != nil {
		WriteError(w, err)
		return
	}
	if rt.handle == nil {
		WriteError(w, notImplemented(rt.op))
		return
	}
	c := &call{r: r, body: body, params: p, query: r.URL.Query(), caller: cred.Arn, cred: cred}
	if err := a.authorize(rt, c); err != nil {
		WriteError(w, err)
		return
	}
	out, err := rt.handle(a, c)
	if err != nil {
		WriteError(w, err)
		return
	}
	b, ok := out.(json.RawMessage)
	if !ok {
		var merr error
		if b, merr = json.Marshal(out); merr != nil {
			WriteError(w, internal(merr))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// Operation names the EKS operation a request is for ("" if none), for logs and metrics.
func Operation(r *http.Request) string {
	if rt, _, err := match(r.Method, r.URL.EscapedPath()); err == nil {
		return rt.op
	}
	return ""
}

// internal turns an unexpected failure (the datastore is down, ...) into the
// modeled server error. Never a bare 500.
func internal(err error) *Error {
	if errors.Is(err, store.ErrConflict) {
		return Errorf(Throttling, "Too many concurrent changes, retry the request")
	}
	return Errorf(ServerError, "Internal failure: %v", err)
}
