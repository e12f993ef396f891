package eks

import (
	"context"
	"encoding/json"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// checkEncryptionKeys refuses an encryptionConfig whose key is not an
// existing, enabled symmetric KMS key of the account and region, with
// EKS's InvalidParameterException. checkEncryptionConfig has already
// checked the ARN's shape and region.
func (a *API) checkEncryptionKeys(ctx context.Context, cluster string, ec []shapes.EncryptionConfig) *Error {
	if a.cfg.KeyUsable == nil {
		return nil
	}
	for _, c := range ec {
		if c.Provider == nil {
			continue
		}
		problem, err := a.cfg.KeyUsable(ctx, c.Provider.KeyArn)
		if err != nil {
			return internal(err)
		}
		if problem != "" {
			return InvalidParam(cluster, "The KMS key %s cannot be used to encrypt the cluster's secrets: %s", c.Provider.KeyArn, problem)
		}
	}
	return nil
}

// associateEncryptionConfig turns on Secrets encryption for a cluster that
// has none, as an AssociateEncryptionConfig update: the reconciler rolls the
// control plane onto the KMS provider and rewrites every Secret. EKS allows
// it once; a cluster with encryption already is refused as EKS refuses it.
func (a *API) associateEncryptionConfig(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	var req struct {
		EncryptionConfig   []shapes.EncryptionConfig `json:"encryptionConfig"`
		ClientRequestToken string                    `json:"clientRequestToken,omitempty"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if req.EncryptionConfig == nil {
		return nil, InvalidParam(name, "encryptionConfig is required")
	}
	if len(rec.Cluster.EncryptionConfig) > 0 {
		return nil, encryptionAlreadyOn(name)
	}
	if err := checkEncryptionConfig(name, req.EncryptionConfig, a.limits.Region); err != nil {
		return nil, err
	}
	if len(req.EncryptionConfig) == 0 {
		return nil, InvalidParam(name, "1 validation error detected: Value at 'encryptionConfig' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if err := a.checkEncryptionKeys(c.r.Context(), name, req.EncryptionConfig); err != nil {
		return nil, err
	}
	v, _ := json.Marshal(req.EncryptionConfig)
	change, _ := json.Marshal(map[string]any{"encryptionConfig": req.EncryptionConfig})
	params := []shapes.UpdateParam{{Type: "EncryptionConfig", Value: string(v)}}
	return a.startUpdate(c, name, req.ClientRequestToken, "AssociateEncryptionConfig", params, change, nil, func(fresh *store.ClusterRecord) error {
		if len(fresh.Cluster.EncryptionConfig) > 0 {
			return encryptionAlreadyOn(name)
		}
		fresh.PendingEncryption = req.EncryptionConfig
		return nil
	})
}

func encryptionAlreadyOn(cluster string) *Error {
	return InvalidParam(cluster, "Encryption is already enabled on the cluster")
}
