package eks

import (
	"context"

	"github.com/kplane/kplane/internal/eks/shapes"
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
