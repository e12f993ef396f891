package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// encryptionUpdateTimeout bounds an AssociateEncryptionConfig: the roll onto
// the KMS provider and the rewrite of every Secret, retried until then.
const encryptionUpdateTimeout = 10 * time.Minute

// rollOut makes the control plane run next (the cluster with an update's
// change applied): Ensure restarts the replicas one at a time with the new
// spec, never leaving none serving. It is true once every replica runs
// next. Any update that changes the replicas' flags goes through it.
func (r *Reconciler) rollOut(ctx context.Context, next *store.ClusterRecord) (bool, error) {
	obs, err := r.Provisioner.Ensure(ctx, next, r.info)
	if err != nil {
		return false, err
	}
	return obs.Ready, nil
}

// associateEncryption carries out an AssociateEncryptionConfig update: the
// key must still be usable; the replicas roll onto the KMS v2 provider; then
// every existing Secret is rewritten, so none stays in plain text in etcd.
// A failure before the roll leaves the cluster unencrypted; one after it
// keeps the encryptionConfig (Secrets written since are KMS ciphertext and
// need the provider to be read) and the Update is Failed with the error.
func (r *Reconciler) associateEncryption(ctx context.Context, u *store.UpdateRecord, next *store.ClusterRecord) error {
	var req struct {
		EncryptionConfig []shapes.EncryptionConfig `json:"encryptionConfig"`
	}
	if err := json.Unmarshal(u.Change, &req); err != nil || len(req.EncryptionConfig) == 0 || req.EncryptionConfig[0].Provider == nil {
		return r.finishEncryption(ctx, u, next, false, fmt.Errorf("invalid change: %v", err))
	}
	keyArn := req.EncryptionConfig[0].Provider.KeyArn
	if r.info.KMSKeyIssue != nil && len(next.Cluster.EncryptionConfig) == 0 {
		if code, msg := r.info.KMSKeyIssue(ctx, keyArn); code != "" {
			return r.finishEncryption(ctx, u, next, false, fmt.Errorf("%s: %s", code, msg))
		}
	}
	next.Cluster.EncryptionConfig = req.EncryptionConfig
	late := time.Since(time.UnixMilli(int64(float64(u.Update.CreatedAt)*1000))) > encryptionUpdateTimeout
	rolled, err := r.rollOut(ctx, next)
	if err == nil && !rolled {
		if !late {
			return nil // rolling; look again shortly
		}
		err = errors.New("the control plane did not become ready with the KMS provider within " + encryptionUpdateTimeout.String())
	}
	if err == nil {
		rw, ok := r.Provisioner.(SecretsRewriter)
		if !ok {
			err = errors.New("this control plane cannot rewrite Secrets")
		} else {
			var n int
			n, err = rw.RewriteSecrets(ctx, next)
			if err == nil {
				r.Log.Info("secrets rewritten with the KMS provider", "cluster", next.Cluster.Name, "secrets", n)
			}
		}
	}
	if err != nil && !late {
		return fmt.Errorf("associating encryption: %w (retrying)", err)
	}
	return r.finishEncryption(ctx, u, next, true, err)
}

// finishEncryption ends the update: Successful when err is nil, else Failed
// with it. keep says whether the encryptionConfig stays on the cluster.
func (r *Reconciler) finishEncryption(ctx context.Context, u *store.UpdateRecord, next *store.ClusterRecord, keep bool, err error) error {
	final := *u
	final.Update.Status = shapes.UpdateSuccessful
	if err != nil {
		final.Update.Status = shapes.UpdateFailed
		final.Update.Errors = []shapes.ErrorDetail{{ErrorCode: "Unknown", ErrorMessage: err.Error()}}
	}
	r.Log.Info("update finished", "cluster", next.Cluster.Name, "update", u.Update.ID, "type", u.Update.Type, "status", final.Update.Status)
	return r.st.FinishUpdate(ctx, &final, func(fresh *store.ClusterRecord) error {
		if keep {
			fresh.Cluster.EncryptionConfig = next.Cluster.EncryptionConfig
		}
		fresh.PendingEncryption = nil
		fresh.Cluster.Status = shapes.StatusActive
		return nil
	})
}

// keyIssues are the health issues of an encrypted cluster's KMS key
// (disabled, pending deletion, gone), as EKS shows them.
func (r *Reconciler) keyIssues(ctx context.Context, rec *store.ClusterRecord) []shapes.ClusterIssue {
	ec := rec.Cluster.EncryptionConfig
	if r.info.KMSKeyIssue == nil || len(ec) == 0 || ec[0].Provider == nil {
		return nil
	}
	code, msg := r.info.KMSKeyIssue(ctx, ec[0].Provider.KeyArn)
	if code == "" {
		return nil
	}
	return []shapes.ClusterIssue{{Code: code, Message: msg, ResourceIDs: []string{ec[0].Provider.KeyArn}}}
}
