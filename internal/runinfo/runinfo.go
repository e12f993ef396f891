// Package runinfo is what a running kplane tells the reconcilers it starts
// about itself. It sits below internal/server so that the packages that run
// clusters (and nodes) need not import the server that wires them.
package runinfo

import (
	"context"
	"time"

	"github.com/kplane/kplane/internal/auth"
)

// Info describes the running kplane.
type Info struct {
	// DataDir holds kplane's files; each cluster's are in DataDir/clusters/ID.
	DataDir   string
	Region    string
	AccountID string
	// URL is the base URL of kplane's API (the token webhook is under it).
	URL  string
	Root *auth.Credential
	// InstanceCredentials mints temporary credentials of an IAM role for an
	// EC2 instance (session named sessionName), as an instance profile gives
	// them; an error wrapping iam.ErrRoleNotFound when the role is gone.
	InstanceCredentials func(ctx context.Context, roleArn, sessionName string, d time.Duration) (*auth.Credential, error)
	// KMSKeyIssue says what is wrong with a cluster's encryption key, as an
	// EKS health issue code and message ("" while it is usable); nil when
	// kplane runs no KMS.
	KMSKeyIssue func(ctx context.Context, keyArn string) (code, message string)
}
