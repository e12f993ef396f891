package iam

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/kplane/kplane/internal/paging"
	"github.com/kplane/kplane/internal/policy"
)

const (
	// maxAccessKeysPerUser is IAM's quota.
	maxAccessKeysPerUser = 2
	// defaultMaxSessionDuration is a role's MaxSessionDuration unless told otherwise.
	defaultMaxSessionDuration = 3600
	defaultMaxItems           = 100
)

func noSuchUser(name string) *apiError {
	return newError(404, "NoSuchEntity", "The user with name "+name+" cannot be found.")
}

func noSuchRole(name string) *apiError {
	return newError(404, "NoSuchEntity", "The role with name "+name+" cannot be found.")
}

func noSuchAccessKey(id string) *apiError {
	return newError(404, "NoSuchEntity", "The Access Key with id "+id+" cannot be found.")
}

// failure is the answer to an error on kplane's side; writeError gives it the
// service's internal-failure code. The error itself is not shown to clients.
func (s *Service) failure(err error) *apiError {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return newError(503, "ServiceUnavailable", "The request was not completed in time. Try again.")
	}
	slog.Error("iam: datastore failure", "err", err) // the client sees no detail
	return newError(500, "", "The request processing has failed because of an unknown error, exception or failure.")
}

// authorize decides the call (action iam:ACTION) on resource with IAM's
// policies, as every service kplane speaks does; keys are the call's own
// condition keys (nil for none), to which the resource's own tags are added.
func (s *Service) authorize(c *call, resource string, keys map[string][]string) *apiError {
	keys = s.resourceTagKeys(resource, keys)
	if ref := s.Authorize(c.r, c.cred, &policy.Request{Action: "iam:" + c.action, Resource: resource, Context: keys}); ref != nil {
		return newError(403, "AccessDenied", ref.Message)
	}
	return nil
}

// targetUser resolves an optional UserName: given, it names the user;
// omitted, IAM means the caller's own user, which a
// session does not have ("" for root).
func targetUser(who principalInfo, name string, given bool) (string, *apiError) {
	if given {
		return name, nil
	}
	switch who.kind {
	case kindUser:
		return who.userName, nil
	case kindSession:
		return "", validationError("Must specify userName when calling with non-User credentials")
	}
	return "", nil
}

// listing reads the paging parameters of IAM's List calls.
type listing struct {
	pathPrefix string
	marker     string
	hasMarker  bool
	maxItems   int
}

func readListing(v *validator, withPath bool) listing {
	l := listing{pathPrefix: "/", maxItems: defaultMaxItems}
	if withPath {
		if p, ok := v.str("PathPrefix", "pathPrefix", false, 1, 512, validPathPrefix, patPathPrefix); ok {
			l.pathPrefix = p
		}
	}
	l.marker, l.hasMarker = v.str("Marker", "marker", false, 1, 320, validMarker, patMarker)
	if n, ok := v.integer("MaxItems", "maxItems", 1, 1000); ok {
		l.maxItems = n
	}
	return l
}

// page cuts one page out of items in key order. A marker is the opaque form
// of the last key returned, so the next page resumes after it in order even
// when it is gone by then.
func page[T any](items []T, key func(T) string, l listing) (out []T, truncated bool, next string, e *apiError) {
	after := ""
	if l.hasMarker {
		var ok bool
		if after, ok = marker.Decode(l.marker); !ok {
			return nil, false, "", validationError("Invalid Marker.")
		}
	}
	out, resume := paging.Page(items, key, after, l.maxItems)
	if resume == "" {
		return out, false, "", nil
	}
	return out, true, marker.Encode(resume), nil
}

// marker is IAM's Marker: the resume key, base64.
var marker = paging.Token{}

// listUnderPath is what ListUsers and ListRoles share: the paging
// parameters, the caller's right to list under arnPrefix, the entities under
// PathPrefix, and one page of them by lower-cased name.
func listUnderPath[T any](s *Service, c *call, arnPrefix string, list func(context.Context) ([]T, error), path, name func(T) string) ([]T, bool, string, *apiError) {
	v := validator{p: c.p}
	l := readListing(&v, true)
	if e := v.err(); e != nil {
		return nil, false, "", e
	}
	if e := s.authorize(c, arnPrefix+"*", nil); e != nil {
		return nil, false, "", e
	}
	all, err := list(c.r.Context())
	if err != nil {
		return nil, false, "", s.failure(err)
	}
	var under []T
	for _, x := range all {
		if strings.HasPrefix(path(x), l.pathPrefix) {
			under = append(under, x)
		}
	}
	return page(under, func(x T) string { return strings.ToLower(name(x)) }, l)
}
