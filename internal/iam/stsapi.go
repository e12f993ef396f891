package iam

import (
	"errors"
	"strings"
	"time"

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

// assumeRole is STS AssumeRole. Session policies, tags, ExternalId and MFA
// parameters are checked for shape and otherwise ignored: kplane evaluates no
// permission policies, and trust-policy statements with conditions never
// allow (see trustPolicy.allows).
func (s *Service) assumeRole(c *call) (any, *apiError) {
	v := validator{p: c.p}
	roleArnIn, _ := v.str("RoleArn", "roleArn", true, 20, 2048, validArnText, patArn)
	sessionName, _ := v.str("RoleSessionName", "roleSessionName", true, 2, 64, validSessionName, patSessionName)
	secs, hasSecs := v.integer("DurationSeconds", "durationSeconds", 900, 43200)
	v.str("Policy", "policy", false, 1, 2048, validPolicyText, patPolicy)
	v.str("ExternalId", "externalId", false, 2, 1224, validExternalID, `[\w+=,.@:\/-]*`)
	v.str("SerialNumber", "serialNumber", false, 9, 256, validExternalID, `[\w+=/:,.@-]*`)
	v.str("TokenCode", "tokenCode", false, 6, 6, validDigits, `[\d]*`)
	v.str("SourceIdentity", "sourceIdentity", false, 2, 64, validSessionName, `[\w+=,.@-]*`)
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
	policy, msg := parseTrustPolicy(role.AssumeRolePolicyDocument)
	if msg != "" {
		return nil, denied // stored by hand or by an older kplane: trust nobody
	}
	who2 := caller{arn: who.arn, account: s.accountID}
	if who.session != nil {
		who2.roleArn = who.session.RoleArn
	}
	if !policy.allows(who2, "sts:AssumeRole") {
		return nil, denied
	}

	duration := defaultSessionDuration
	if hasSecs {
		duration = time.Duration(secs) * time.Second
	}
	if hasSecs && duration > time.Duration(role.MaxSessionDuration)*time.Second {
		return nil, validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	if who.kind == kindSession && duration > chainedSessionLimit {
		return nil, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}

	now := s.now().UTC().Truncate(time.Second)
	sess := &store.IAMSession{
		RoleArn: role.Arn, RoleID: role.RoleID, RoleName: role.RoleName,
		SessionName: sessionName, SourceArn: who.arn, Expiration: now.Add(duration),
	}
	var rev int64
	for attempt := 0; ; attempt++ {
		sess.AccessKeyID = newID(prefixSessionKey)
		rev, err = s.st.PutIAMSession(ctx, sess, duration+sessionGrace)
		if !errors.Is(err, store.ErrExists) || attempt == 3 {
			break
		}
	}
	if err != nil {
		return nil, s.failure(err)
	}
	// The credentials work once the index has them; clients use them at once.
	s.index.WaitFor(ctx, rev)

	cred := s.sessionCredential(sess)
	res := &assumeRoleResult{}
	res.AssumedRoleUser.Arn = cred.Arn
	res.AssumedRoleUser.AssumedRoleID = cred.UserID
	res.Credentials.AccessKeyID = cred.AccessKeyID
	res.Credentials.SecretAccessKey = cred.SecretAccessKey
	res.Credentials.SessionToken = cred.SessionToken
	res.Credentials.Expiration = isoTime(cred.Expires)
	return res, nil
}
