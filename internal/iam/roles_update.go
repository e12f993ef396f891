package iam

import (
	"errors"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// maxTrustPolicySize is IAM's default ACLSizePerRole.
const maxTrustPolicySize = 2048

func unmodifiableRole(name string) *apiError {
	return newError(400, "UnmodifiableEntity", "Cannot perform the operation on the protected role '"+name+"' - this role is only modifiable by AWS")
}

func (s *Service) updateRole(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("RoleName", "roleName", true, 1, 64, validName, patName)
	desc, hasDesc := v.str("Description", "description", false, 0, 1000, validDescription, patDescription)
	maxDur, hasMaxDur := v.integer("MaxSessionDuration", "maxSessionDuration", 3600, 43200)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.roleResource(name), nil); e != nil {
		return nil, e
	}
	return &struct{}{}, s.changeRole(c, name, func(r *store.IAMRole) *apiError {
		if hasDesc {
			r.Description = desc
		}
		if hasMaxDur {
			r.MaxSessionDuration = maxDur
		}
		return nil
	})
}

// changeRole changes a role that AWS would let its owner change.
func (s *Service) changeRole(c *call, name string, fn func(*store.IAMRole) *apiError) *apiError {
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		r, err := tx.Role(name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			ae = noSuchRole(name)
			return nil
		case err != nil:
			return err
		case r.ServiceLinked != "":
			ae = unmodifiableRole(r.RoleName)
			return nil
		}
		if ae = fn(r); ae == nil {
			tx.PutRole(r)
		}
		return nil
	})
	if err != nil {
		return s.failure(err)
	}
	return ae
}

func (s *Service) updateAssumeRolePolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("RoleName", "roleName", true, 1, 64, validName, patName)
	doc, _ := v.str("PolicyDocument", "policyDocument", true, 1, 131072, validPolicyText, patPolicy)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.roleResource(name), nil); e != nil {
		return nil, e
	}
	trust, msg := parseTrustPolicy(doc)
	if msg != "" {
		return nil, newError(400, "MalformedPolicyDocument", msg)
	}
	if len(doc) > maxTrustPolicySize {
		return nil, newError(409, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")
	}
	if e := s.checkPrincipals(c.r.Context(), trust); e != nil {
		return nil, e
	}
	return nil, s.changeRole(c, name, func(r *store.IAMRole) *apiError {
		r.AssumeRolePolicyDocument = doc
		return nil
	})
}

// serviceLinkedRoles are the service-linked roles kplane makes: EKS's and
// its managed node groups'.
var serviceLinkedRoles = map[string]struct{ name, description string }{
	"eks.amazonaws.com":           {"AWSServiceRoleForAmazonEKS", "Allows Amazon EKS to call AWS services on your behalf."},
	"eks-nodegroup.amazonaws.com": {"AWSServiceRoleForAmazonEKSNodegroup", "This policy allows Amazon EKS to create and manage Nodegroups"},
}

func (s *Service) createServiceLinkedRole(c *call) (any, *apiError) {
	v := validator{p: c.p}
	service, _ := v.str("AWSServiceName", "aWSServiceName", true, 1, 128, validServiceName, `[\w+=,.@-]+`)
	desc, hasDesc := v.str("Description", "description", false, 0, 1000, validDescription, patDescription)
	suffix, hasSuffix := v.str("CustomSuffix", "customSuffix", false, 1, 64, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	slr, ok := serviceLinkedRoles[service]
	path := "/aws-service-role/" + service + "/"
	arn := roleArn(s.accountID, path, slr.name)
	if e := s.authorize(c, arn, map[string][]string{"iam:awsservicename": {service}}); e != nil {
		return nil, e
	}
	if !ok {
		return nil, newError(400, "InvalidInput", "Invalid service name: "+service+" (kplane makes the service-linked roles of eks.amazonaws.com and eks-nodegroup.amazonaws.com)")
	}
	if hasSuffix {
		return nil, newError(400, "InvalidInput", "Custom suffix is not allowed for "+service+" ("+suffix+")")
	}
	if !hasDesc {
		desc = slr.description
	}
	r := &store.IAMRole{
		RoleName: slr.name, RoleID: newID(prefixRoleID), Path: path, Arn: arn,
		CreateDate: s.now().UTC().Truncate(time.Second), Description: desc, MaxSessionDuration: defaultMaxSessionDuration,
		AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["` + service + `"]},"Action":["sts:AssumeRole"]}]}`,
		ServiceLinked:            service,
	}
	switch err := s.st.CreateIAMRole(c.r.Context(), r); {
	case errors.Is(err, store.ErrExists):
		return nil, newError(400, "InvalidInput", "Service role name "+slr.name+" has been taken in this account, please try a different suffix.")
	case err != nil:
		return nil, s.failure(err)
	}
	return &roleResult{Role: roleOf(r, true)}, nil
}

func validServiceName(s string) bool { return validName(s) }
