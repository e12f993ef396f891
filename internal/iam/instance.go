package iam

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/store"
)

// ErrRoleNotFound is InstanceSession's answer when the role does not exist.
var ErrRoleNotFound = errors.New("role not found")

// InstanceSession mints temporary credentials of roleArn for an EC2
// instance, as EC2 does through an instance profile: the session is named
// sessionName (the instance id), comes from ec2.amazonaws.com and lasts d
// (900 s to 12 h). The token webhook then maps it as
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func (s *Service) InstanceSession(ctx context.Context, roleArn, sessionName string, d time.Duration) (*auth.Credential, error) {
	path, name, ok := splitRoleArn(roleArn, s.accountID)
	if !ok {
		return nil, fmt.Errorf("%q is not a role of account %s: %w", roleArn, s.accountID, ErrRoleNotFound)
	}
	if !validSessionName(sessionName) || len(sessionName) < 2 || len(sessionName) > 64 {
		return nil, fmt.Errorf("session name %q is not valid", sessionName)
	}
	d = min(max(d, 15*time.Minute), 12*time.Hour)
	role, err := s.st.GetIAMRole(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && role.Path != path {
		return nil, fmt.Errorf("%s: %w", roleArn, ErrRoleNotFound)
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	sess := &store.IAMSession{
		RoleArn: role.Arn, RoleID: role.RoleID, RoleName: role.RoleName,
		SessionName: sessionName, SourceArn: "ec2.amazonaws.com", Expiration: now.Add(d),
	}
	if err := s.putSession(ctx, sess, d); err != nil {
		return nil, err
	}
	return s.sessionCredential(sess), nil
}

// putSession stores sess, lasting d, under a new access key id and waits
// until the index has it: clients use the credentials at once.
func (s *Service) putSession(ctx context.Context, sess *store.IAMSession, d time.Duration) error {
	var rev int64
	var err error
	for attempt := 0; ; attempt++ {
		sess.AccessKeyID = newID(prefixSessionKey)
		rev, err = s.st.PutIAMSession(ctx, sess, d+sessionGrace)
		if !errors.Is(err, store.ErrExists) || attempt == 3 {
			break
		}
	}
	if err != nil {
		return err
	}
	s.index.WaitFor(ctx, rev)
	return nil
}
