package iam

import (
	"net/http"
	"strings"
	"sync"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

// Authorize decides a call of any service kplane speaks (policy.Authorizer):
// the account root may do everything; an IAM user is decided by its own
// policies and its groups'; an assumed role by the role's policies and the
// session's policies. A refusal carries AWS's message.
func (s *Service) Authorize(r *http.Request, cred *auth.Credential, req *policy.Request) *policy.Refusal {
	if s.isRoot(cred) {
		return nil
	}
	keys := s.callerKeys(r, cred)
	if req.Global == nil {
		req.Global = keys
	}
	ps := keys.ps
	d, bySession := policy.Evaluate(ps.identity, ps.session, req)
	by := policy.IdentityPolicies
	if bySession {
		by = policy.SessionPolicies
	}
	if ps.hasBoundary {
		d, by = policy.Bound(d, by, ps.boundary, req)
	}
	if d == policy.Allow {
		return nil
	}
	return &policy.Refusal{Decision: d,
		Message: policy.DenialMessage(cred.Arn, req.Action, req.Resource, d, by)}
}

func (s *Service) isRoot(cred *auth.Credential) bool {
	return s.root != nil && cred.AccessKeyID == s.root.AccessKeyID || cred.Arn == s.rootArn
}

// principalPolicies are what decides a principal's calls.
type principalPolicies struct {
	identity      []*policy.Policy
	session       []*policy.Policy // nil: no session policy
	boundary      *policy.Policy   // the permissions boundary; nil with hasBoundary: one that allows nothing
	hasBoundary   bool
	tags          []store.IAMTag
	kind          string // aws:PrincipalType: User, AssumedRole
	arn           string // aws:PrincipalArn: the user's, or the role's for a session
	userName      string
	userID        string
	sessionRecord *store.IAMSession // the session it was made for, if any
}

func (s *Service) principalPolicies(cred *auth.Credential) *principalPolicies {
	if cred.SessionToken != "" {
		ps := &principalPolicies{kind: "AssumedRole"}
		sess := s.index.Session(cred.AccessKeyID)
		if sess == nil {
			return ps
		}
		ps.sessionRecord = sess
		ps.arn = sess.RoleArn
		if role := s.index.Role(sess.RoleName); role != nil && role.RoleID == sess.RoleID {
			ps.identity = s.entityPolicies(role.AttachedPolicies, role.InlinePolicies, ps.identity)
			ps.tags = role.Tags
			ps.setBoundary(s, role.PermissionsBoundary)
		}
		if sess.HasSessionPolicy {
			ps.session = []*policy.Policy{}
			for _, doc := range sess.SessionPolicies {
				if p := s.parsed(doc); p != nil {
					ps.session = append(ps.session, p)
				}
			}
		}
		return ps
	}
	name := cred.Arn[strings.LastIndexByte(cred.Arn, '/')+1:]
	ps := &principalPolicies{kind: "User", arn: cred.Arn, userName: name, userID: cred.UserID}
	u := s.index.User(name)
	if u == nil || u.UserID != cred.UserID {
		return ps
	}
	ps.tags = u.Tags
	ps.setBoundary(s, u.PermissionsBoundary)
	ps.identity = s.entityPolicies(u.AttachedPolicies, u.InlinePolicies, ps.identity)
	for _, g := range u.Groups {
		if grp := s.index.Group(g); grp != nil {
			ps.identity = s.entityPolicies(grp.AttachedPolicies, grp.InlinePolicies, ps.identity)
		}
	}
	return ps
}

// setBoundary sets the permissions boundary of ARN arn ("" for none).
func (ps *principalPolicies) setBoundary(s *Service, arn string) {
	if arn != "" {
		ps.hasBoundary, ps.boundary = true, s.managedPolicy(arn)
	}
}

// entityPolicies appends the parsed attached and inline policies of a user,
// role or group to out.
func (s *Service) entityPolicies(attached []string, inline []store.IAMInlinePolicy, out []*policy.Policy) []*policy.Policy {
	for _, arn := range attached {
		if p := s.managedPolicy(arn); p != nil {
			out = append(out, p)
		}
	}
	for _, ip := range inline {
		if p := s.parsed(ip.Document); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// managedPolicy is the parsed default version of a managed policy, or nil.
func (s *Service) managedPolicy(arn string) *policy.Policy {
	if m := awsManaged[arn]; m != nil {
		return m.parsed
	}
	doc, ok := s.customerPolicyDocument(arn)
	if !ok {
		return nil
	}
	return s.parsed(doc)
}

// customerPolicyDocument is the default version's document of the customer
// managed policy arn, from the index.
func (s *Service) customerPolicyDocument(arn string) (string, bool) {
	a, ok := parseARN(arn)
	if !ok || a.account != s.accountID || !strings.HasPrefix(a.resource, "policy/") {
		return "", false
	}
	name := a.resource[strings.LastIndexByte(a.resource, '/')+1:]
	p := s.index.Policy(name)
	if p == nil || p.Arn != arn {
		return "", false
	}
	return p.DefaultDocument(), true
}

// parsedCache holds parsed policy documents by their text, so a call parses nothing.
type parsedCache struct {
	mu sync.RWMutex
	m  map[string]*policy.Policy
}

const maxParsedCache = 8192

func (s *Service) parsed(doc string) *policy.Policy {
	c := &s.parsedDocs
	c.mu.RLock()
	p, ok := c.m[doc]
	c.mu.RUnlock()
	if ok {
		return p
	}
	p, err := policy.Parse(doc)
	if err != nil {
		p = nil // stored before validation or by hand: it grants nothing
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxParsedCache {
		c.m = map[string]*policy.Policy{}
	}
	c.m[doc] = p
	c.mu.Unlock()
	return p
}

// userResource is the ARN of the named user (with its path), for authorizing a call on it.
func (s *Service) userResource(name string) string {
	if u := s.index.User(name); u != nil {
		return u.Arn
	}
	return userArn(s.accountID, "/", name)
}

// roleResource is the ARN of the named role (with its path).
func (s *Service) roleResource(name string) string {
	if r := s.index.Role(name); r != nil {
		return r.Arn
	}
	return roleArn(s.accountID, "/", name)
}

// groupResource is the ARN of the named group (with its path).
func (s *Service) groupResource(name string) string {
	if g := s.index.Group(name); g != nil {
		return g.Arn
	}
	return "arn:aws:iam::" + s.accountID + ":group/" + name
}

// tagKeys are the condition keys of the tags a call sets.
func tagKeys(tags []tag) map[string][]string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return policy.RequestTagKeys(nil, m)
}

// txn runs fn in one IAM transaction and, once it committed, waits until
// the index has it: a policy change applies to the very next call.
func (s *Service) txn(c *call, fn func(tx store.IAMTx) error) (int64, error) {
	rev, err := s.st.IAMTxn(c.r.Context(), fn)
	if err == nil && rev > 0 {
		s.index.WaitFor(c.r.Context(), rev)
	}
	return rev, err
}
