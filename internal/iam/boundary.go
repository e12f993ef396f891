package iam

// Permissions boundaries: a managed policy set on a user or role that bounds
// what its identity policies (and, for a role, its sessions) may allow; see
// policy.Bound.

// boundaryShape is the PermissionsBoundary element of User and Role.
type boundaryShape struct {
	PermissionsBoundaryType string `xml:"PermissionsBoundaryType"`
	PermissionsBoundaryArn  string `xml:"PermissionsBoundaryArn"`
}

func boundaryOf(arn string) *boundaryShape {
	if arn == "" {
		return nil
	}
	return &boundaryShape{PermissionsBoundaryType: "PermissionsBoundaryPolicy", PermissionsBoundaryArn: arn}
}

// checkBoundary answers NoSuchEntity, as IAM does, for a boundary that is not
// a managed policy kplane has (AWS managed or the account's).
func (s *Service) checkBoundary(arn string) *apiError {
	if _, ok := s.policyDocument(arn); !ok {
		return noSuchBoundary(arn)
	}
	return nil
}

// setBoundary is Put{User,Role}PermissionsBoundary (set) and
// Delete{User,Role}PermissionsBoundary.
func (s *Service) setBoundary(c *call, k *entityKind, set bool) (any, *apiError) {
	var arn string
	name, e := s.entityCall(c, k, func(v *validator) map[string][]string {
		if set {
			arn, _ = v.str("PermissionsBoundary", "permissionsBoundary", true, 20, 2048, validArnText, patArn)
		}
		return nil
	})
	if e != nil {
		return nil, e
	}
	if set {
		if e := s.checkBoundary(arn); e != nil {
			return nil, e
		}
	}
	return nil, s.updateEntity(c, k, name, func(ent *entity) *apiError {
		*ent.boundary = arn
		return nil
	})
}
