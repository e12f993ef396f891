package iam

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/auth"
)

// maxCachedPrincipals bounds the cache; past it, it starts afresh.
const maxCachedPrincipals = 4096

// principalCache keeps each caller's policies, by access key id, as long as
// no user, role, group or customer managed policy has changed since they
// were gathered (store.IAMIndex.PrincipalsRevision): a call then costs one
// map read instead of reading the caller, its groups and policies. Any IAM
// write that could change a decision moves the revision before the writer
// answers, so the cache never serves an Allow that a detach or delete took
// away.
type principalCache struct {
	mu sync.RWMutex
	m  map[string]cachedPrincipal
}

type cachedPrincipal struct {
	rev int64
	ps  *principalPolicies
}

func (c *principalCache) get(s *Service, cred *auth.Credential) *principalPolicies {
	// The revision is read before the records: what is built is at least as
	// new as the revision it is filed under.
	rev := s.index.PrincipalsRevision()
	c.mu.RLock()
	e, ok := c.m[cred.AccessKeyID]
	c.mu.RUnlock()
	if ok && e.rev == rev && e.ps.madeFor(s, cred) {
		return e.ps
	}
	ps := s.principalPolicies(cred)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedPrincipals {
		c.m = map[string]cachedPrincipal{}
	}
	c.m[cred.AccessKeyID] = cachedPrincipal{rev: rev, ps: ps}
	c.mu.Unlock()
	return ps
}

// madeFor reports whether ps was gathered for this credential: the same
// user, or the same session record (a session's policies are fixed when it
// is made; an ended one is not even authenticated).
func (ps *principalPolicies) madeFor(s *Service, cred *auth.Credential) bool {
	if cred.SessionToken != "" {
		return ps.sessionRecord != nil && ps.sessionRecord == s.index.Session(cred.AccessKeyID)
	}
	return ps.arn == cred.Arn && ps.userID == cred.UserID
}

// callerKeys are the global condition keys of a call: who calls, when, from
// where. Each is made only when a statement reads it.
type callerKeys struct {
	s    *Service
	r    *http.Request
	cred *auth.Credential
	ps   *principalPolicies
}

// callerKeys are cred's global condition keys for a call of r (cred is not the root's).
func (s *Service) callerKeys(r *http.Request, cred *auth.Credential) *callerKeys {
	return &callerKeys{s: s, r: r, cred: cred, ps: s.principals.get(s, cred)}
}

func (k *callerKeys) Values(key string) []string {
	switch key {
	case "aws:principalarn":
		return []string{k.ps.arn}
	case "aws:principalaccount":
		return []string{k.s.accountID}
	case "aws:principaltype":
		return []string{k.ps.kind}
	case "aws:userid":
		return []string{k.cred.UserID}
	case "aws:username":
		if k.ps.userName != "" {
			return []string{k.ps.userName}
		}
	case "aws:currenttime":
		return []string{k.s.now().UTC().Format(time.RFC3339)}
	case "aws:epochtime":
		return []string{strconv.FormatInt(k.s.now().Unix(), 10)}
	case "aws:requestedregion":
		return []string{k.s.region}
	case "aws:securetransport":
		if k.r != nil {
			return []string{strconv.FormatBool(k.r.TLS != nil)}
		}
	case "aws:sourceidentity":
		if r := k.ps.sessionRecord; r != nil && r.SourceIdentity != "" {
			return []string{r.SourceIdentity}
		}
	case "aws:sourceip":
		if k.r != nil {
			if host, _, err := net.SplitHostPort(k.r.RemoteAddr); err == nil {
				return []string{host}
			}
		}
	default:
		if name, ok := strings.CutPrefix(key, "aws:principaltag/"); ok {
			for _, t := range k.ps.tags {
				if strings.EqualFold(t.Key, name) {
					return []string{t.Value}
				}
			}
		}
	}
	return nil
}
