package iam

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/auth"
	iampolicy "github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

const (
	defaultSessionDuration = time.Hour
	// chainedSessionLimit is the longest session a session may make (role chaining).
	chainedSessionLimit = time.Hour
	// sessionGrace keeps an ended session in etcd a while, so its callers are
	// told ExpiredToken, as AWS tells them, before the key becomes unknown.
	sessionGrace = 15 * time.Minute
)

func (s *Service) getCallerIdentity(c *call) (any, *apiError) {
	return &callerIdentityResult{Arn: c.cred.Arn, UserID: c.cred.UserID, Account: c.cred.AccountID}, nil
}

func validSessionName(s string) bool { return validName(s) }

func validExternalID(s string) bool {
	for _, c := range s {
		if !isWordChar(c) && !strings.ContainsRune("+=,.@:/-", c) {
			return false
		}
	}
	return true
}

func validDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// assumeRole is STS AssumeRole. The role's trust policy decides, with its
// conditions (sts:ExternalId, sts:RoleSessionName, sts:SourceIdentity and the
// caller's global keys: aws:PrincipalArn, aws:PrincipalTag/*,
// aws:SourceIdentity, ...); a SourceIdentity needs sts:SetSourceIdentity too.
// The session's policies (Policy, PolicyArns) are kept with the session and
// bound what it may do. Tags and MFA parameters are checked for shape and
// otherwise ignored.
func (s *Service) assumeRole(c *call) (any, *apiError) {
	v := validator{p: c.p}
	roleArnIn, _ := v.str("RoleArn", "roleArn", true, 20, 2048, validArnText, patArn)
	sessionName, _ := v.str("RoleSessionName", "roleSessionName", true, 2, 64, validSessionName, patSessionName)
	secs, hasSecs := v.integer("DurationSeconds", "durationSeconds", 900, 43200)
	sessionDoc, hasSessionDoc := v.str("Policy", "policy", false, 1, 2048, validPolicyText, patPolicy)
	policyArns := readPolicyArns(&v)
	externalID, hasExternalID := v.str("ExternalId", "externalId", false, 2, 1224, validExternalID, `[\w+=,.@:\/-]*`)
	v.str("SerialNumber", "serialNumber", false, 9, 256, validExternalID, `[\w+=/:,.@-]*`)
	v.str("TokenCode", "tokenCode", false, 6, 6, validDigits, `[\d]*`)
	sourceIdentity, hasSourceIdentity := v.str("SourceIdentity", "sourceIdentity", false, 2, 64, validSessionName, `[\w+=,.@-]*`)
	if e := v.err(); e != nil {
		return nil, e
	}
	who := s.whoIs(c.cred)
	if who.kind == kindRoot {
		return nil, newError(403, "AccessDenied", "Roles may not be assumed by root accounts.")
	}
	denied := newError(403, "AccessDenied", "User: "+who.arn+" is not authorized to perform: sts:AssumeRole on resource: "+roleArnIn)

	if a, ok := parseARN(roleArnIn); !ok || a.service != "iam" || !strings.HasPrefix(a.resource, "role/") {
		return nil, validationError(quoteValue(roleArnIn) + " is invalid")
	}
	// A role that does not exist is refused like one that does not trust the
	// caller, so a caller learns nothing about which roles exist.
	path, name, ok := splitRoleArn(roleArnIn, s.accountID)
	if !ok {
		return nil, denied
	}
	ctx := c.r.Context()
	role, err := s.st.GetIAMRole(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, denied
	case err != nil:
		return nil, s.failure(err)
	}
	if role.Path != path {
		return nil, denied
	}
	trust, msg := parseTrustPolicy(role.AssumeRolePolicyDocument)
	if msg != "" {
		return nil, denied // stored by hand or by an older kplane: trust nobody
	}
	who2 := &iampolicy.Caller{Arn: who.arn, Account: s.accountID}
	inherited := ""
	if who.session != nil {
		who2.RoleArn = who.session.RoleArn
		inherited = who.session.SourceIdentity
	}
	keys := map[string][]string{"sts:rolesessionname": {sessionName}}
	if hasExternalID {
		keys["sts:externalid"] = []string{externalID}
	}
	if hasSourceIdentity {
		if inherited != "" && sourceIdentity != inherited {
			return nil, denied // a source identity, once set, stays through role chaining
		}
		keys["sts:sourceidentity"] = []string{sourceIdentity}
	} else {
		sourceIdentity = inherited
	}
	actions := []string{"sts:AssumeRole"}
	if hasSourceIdentity && inherited == "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	global := s.callerKeys(c.r, c.cred)
	keys = s.resourceTagKeys(role.Arn, keys)
	for _, action := range actions {
		req := &iampolicy.Request{Action: action, Resource: role.Arn, Context: keys, Global: global}
		d, byArn := trust.EvaluateTrust(who2, req)
		if d != iampolicy.Allow {
			return nil, newError(403, "AccessDenied", "User: "+who.arn+" is not authorized to perform: "+action+" on resource: "+roleArnIn)
		}
		// A trust policy that names the caller itself is enough, as in AWS; one
		// that trusts the account leaves it to the caller's own policies.
		if !byArn {
			if ref := s.Authorize(c.r, c.cred, req); ref != nil {
				return nil, newError(403, "AccessDenied", ref.Message)
			}
		}
	}
	sessionPolicies, e := s.sessionPolicies(sessionDoc, hasSessionDoc, policyArns)
	if e != nil {
		return nil, e
	}

	duration, e := sessionDuration(role, secs, hasSecs)
	if e != nil {
		return nil, e
	}
	if who.kind == kindSession && duration > chainedSessionLimit {
		return nil, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}

	now := s.now().UTC().Truncate(time.Second)
	sess := &store.IAMSession{
		RoleArn: role.Arn, RoleID: role.RoleID, RoleName: role.RoleName,
		SessionName: sessionName, SourceArn: who.arn, SourceIdentity: sourceIdentity, Expiration: now.Add(duration),
		SessionPolicies: sessionPolicies, HasSessionPolicy: hasSessionDoc || len(policyArns) > 0,
	}
	cred, e := s.startSession(ctx, sess, duration)
	if e != nil {
		return nil, e
	}
	res := &assumeRoleResult{}
	res.set(cred)
	return res, nil
}

// sessionDuration is how long a session of role lasts: DurationSeconds when
// given (at most the role's MaxSessionDuration), else the default.
func sessionDuration(role *store.IAMRole, secs int, hasSecs bool) (time.Duration, *apiError) {
	if !hasSecs {
		return defaultSessionDuration, nil
	}
	d := time.Duration(secs) * time.Second
	if d > time.Duration(role.MaxSessionDuration)*time.Second {
		return 0, validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	return d, nil
}

// startSession is putSession for an STS call: its credentials, or the
// call's error.
func (s *Service) startSession(ctx context.Context, sess *store.IAMSession, duration time.Duration) (*auth.Credential, *apiError) {
	if err := s.putSession(ctx, sess, duration); err != nil {
		return nil, s.failure(err)
	}
	return s.sessionCredential(sess), nil
}

// sessionPolicies are the documents of a session's Policy and PolicyArns.
func (s *Service) sessionPolicies(doc string, hasDoc bool, arns []string) ([]string, *apiError) {
	var out []string
	if hasDoc {
		if _, err := iampolicy.Parse(doc); err != nil {
			return nil, newError(400, "MalformedPolicyDocument", err.Error())
		}
		out = append(out, doc)
	}
	for _, arn := range arns {
		d, ok := s.policyDocument(arn)
		if !ok {
			return nil, newError(400, "InvalidParameterValue", "Policy "+arn+" does not exist or is not attachable.")
		}
		out = append(out, d)
	}
	return out, nil
}

// readPolicyArns reads PolicyArns.member.N.arn (at most 10).
func readPolicyArns(v *validator) []string {
	var out []string
	for i := 1; ; i++ {
		key := "PolicyArns.member." + strconv.Itoa(i) + ".arn"
		if !v.p.has(key) {
			break
		}
		a, _ := v.str(key, "policyArns."+strconv.Itoa(i)+".member.arn", true, 20, 2048, validArnText, patArn)
		out = append(out, a)
	}
	if len(out) > 10 {
		v.errs = append(v.errs, "Value '[...]' at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	return out
}

// policyDocument is the default document of a managed policy.
func (s *Service) policyDocument(arn string) (string, bool) {
	if m := awsManaged[arn]; m != nil {
		return m.document, true
	}
	return s.customerPolicyDocument(arn)
}
