package localnodes

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/kplane/kplane/internal/fileutil"
	"github.com/kplane/kplane/internal/iam"
	"github.com/kplane/kplane/internal/nodecreds"
	"github.com/kplane/kplane/internal/nodegroup"
)

// Node-role credentials last credentialLifetime and are minted again when
// less than credentialRefresh is left (EC2 renews an instance profile's
// credentials well before they expire, too).
const (
	credentialLifetime = time.Hour
	credentialRefresh  = 20 * time.Minute
)

func (e *Executor) joinsThroughIAM() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.instanceCredentials != nil
}

// ensureRoleCredentials keeps the node's credentials file of its node role
// (session named by its instance id) fresh. ok is false when they cannot
// be had; the state says why (IamNodeRoleNotFound when the role is gone).
func (e *Executor) ensureRoleCredentials(ctx context.Context, spec nodegroup.NodeSpec, dir string) (nodegroup.NodeState, bool) {
	e.mu.Lock()
	mint := e.instanceCredentials
	e.mu.Unlock()
	if mint == nil {
		return nodegroup.NodeState{}, true
	}
	path := nodecreds.Path(dir)
	if f, err := nodecreds.Read(path); err == nil && time.Until(f.Expiration) > credentialRefresh {
		if err := ensureToken(ctx, spec, dir, f, false); err != nil {
			return nodegroup.NodeState{Running: e.sup.State(spec.InstanceID).PID != 0, Problem: "Could not sign the node role's token: " + err.Error()}, false
		}
		return nodegroup.NodeState{}, true
	}
	running := e.sup.State(spec.InstanceID).PID != 0
	cred, err := mint(ctx, spec.NodeRoleArn, spec.InstanceID, credentialLifetime)
	if errors.Is(err, iam.ErrRoleNotFound) {
		return nodegroup.NodeState{Running: running, IssueCode: "IamNodeRoleNotFound",
			Problem: "The node role " + spec.NodeRoleArn + " does not exist in IAM: the instance gets no credentials to join with"}, false
	}
	if err != nil {
		return nodegroup.NodeState{Running: running, Problem: "Could not get the node role's credentials: " + err.Error()}, false
	}
	f := nodecreds.File{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey,
		SessionToken: cred.SessionToken, Expiration: cred.Expires}
	if err := nodecreds.Write(path, f); err != nil {
		return nodegroup.NodeState{}, false
	}
	if err := ensureToken(ctx, spec, dir, f, true); err != nil {
		return nodegroup.NodeState{Running: running, Problem: "Could not sign the node role's token: " + err.Error()}, false
	}
	e.step(spec, "credentials minted")
	return nodegroup.NodeState{}, true
}

// tokenRenewal is how old the node's token file may get before it is
// signed again: a token lasts 15 minutes, the reconciler looks at every
// nodegroup every few seconds, client-go reads the file again at most once
// a minute.
const tokenRenewal = 5 * time.Minute

// ensureToken signs the node role's IAM token (`kplane node token`'s) with
// f into the file the kubelet reads, when it is missing, older than
// tokenRenewal, or the credentials are new.
func ensureToken(ctx context.Context, spec nodegroup.NodeSpec, dir string, f nodecreds.File, newCredentials bool) error {
	path := nodecreds.TokenPath(dir)
	if fi, err := os.Stat(path); err == nil && !newCredentials && time.Since(fi.ModTime()) < tokenRenewal {
		return nil
	}
	token, _, err := nodecreds.Token(ctx, f, spec.ClusterName, spec.Region, time.Now())
	if err != nil {
		return err
	}
	return fileutil.WriteFile(path, []byte(token), 0o600)
}
