package auth

import (
	"context"
	"errors"
	"time"
)

// Credential is one access key kplane knows.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string    // "" for long-term keys
	Expires         time.Time // zero for long-term keys
	AccountID       string
	Arn             string // e.g. arn:aws:iam::000000000000:root
	UserID          string // e.g. the account id for root, AIDA... for users
}

// ErrUnknownKey is what a CredentialSource returns for an access key id it does not know.
var ErrUnknownKey = errors.New("auth: unknown access key")

// CredentialSource finds the credential for an access key id.
type CredentialSource interface {
	Lookup(ctx context.Context, accessKeyID string) (*Credential, error) // ErrUnknownKey if none
}

// StaticCredentials is a CredentialSource over a fixed set, keyed by access key id
// (used for the root credentials).
type StaticCredentials map[string]*Credential

// Lookup implements CredentialSource.
func (s StaticCredentials) Lookup(_ context.Context, accessKeyID string) (*Credential, error) {
	if c, ok := s[accessKeyID]; ok && c != nil {
		return c, nil
	}
	return nil, ErrUnknownKey
}
