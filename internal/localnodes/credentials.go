package localnodes

import (
	"context"
	"errors"
	"time"

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
	err = nodecreds.Write(path, nodecreds.File{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey,
		SessionToken: cred.SessionToken, Expiration: cred.Expires})
	if err != nil {
		return nodegroup.NodeState{}, false
	}
	e.step(spec, "credentials minted")
	return nodegroup.NodeState{}, true
}
