package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kplane/kplane/internal/fileutil"
	"github.com/kplane/kplane/internal/nodecreds"
)

// nodeRoleTokenRenewal is how often the agent signs a new token: a token
// lasts 15 minutes, client-go reads the file again at most once a minute.
const nodeRoleTokenRenewal = 5 * time.Minute

// writeNodeRoleToken signs the node role's IAM token from its credentials
// file and writes it to the file the kubelet reads.
func writeNodeRoleToken(ctx context.Context, t *NodeRoleToken) error {
	f, err := nodecreds.Read(t.CredentialsFile)
	if err != nil {
		return fmt.Errorf("node role credentials: %w", err)
	}
	token, _, err := nodecreds.Token(ctx, f, t.Cluster, t.Region, time.Now())
	if err != nil {
		return fmt.Errorf("node role token: %w", err)
	}
	return fileutil.WriteFile(t.TokenFile, []byte(token), 0o600)
}

// renewNodeRoleToken writes a fresh token every nodeRoleTokenRenewal until
// ctx ends; the credentials file may have been renewed meanwhile.
func renewNodeRoleToken(ctx context.Context, t *NodeRoleToken, log *slog.Logger) {
	tick := time.NewTicker(nodeRoleTokenRenewal)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := writeNodeRoleToken(ctx, t); err != nil {
				log.Warn("renewing the node role token", "err", err)
			}
		}
	}
}
