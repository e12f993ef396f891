package kms

import (
	"context"
	"fmt"
)

// ClusterKeyIssue is how EKS shows a cluster whose encryption key cannot be
// used: the health issue code of the EKS model (KmsKeyDisabled,
// KmsKeyMarkedForDeletion, KmsKeyNotFound) and its message; "" while the
// key is usable, or when KMS itself failed (that is not the key's state).
func (s *Service) ClusterKeyIssue(ctx context.Context, keyArn string) (code, message string) {
	k, e := s.resolve(ctx, keyArn, true)
	switch {
	case e != nil && e.Type == "NotFoundException":
		return "KmsKeyNotFound", fmt.Sprintf("The KMS key %s that encrypts the cluster's secrets does not exist. Secrets can no longer be written or, once cached keys expire, read.", keyArn)
	case e != nil:
		return "", ""
	}
	switch k.KeyState {
	case StateEnabled:
		return "", ""
	case StateDisabled:
		return "KmsKeyDisabled", fmt.Sprintf("The KMS key %s that encrypts the cluster's secrets is disabled. Enable it to write secrets again.", k.Arn)
	case StatePendingDeletion:
		return "KmsKeyMarkedForDeletion", fmt.Sprintf("The KMS key %s that encrypts the cluster's secrets is pending deletion. Cancel the deletion and enable it to write secrets again.", k.Arn)
	}
	return "KmsKeyDisabled", fmt.Sprintf("The KMS key %s that encrypts the cluster's secrets is %s.", k.Arn, k.KeyState)
}
