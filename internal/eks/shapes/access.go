package shapes

// AccessEntry is the AccessEntry shape.
type AccessEntry struct {
	ClusterName      string            `json:"clusterName"`
	PrincipalArn     string            `json:"principalArn"`
	KubernetesGroups []string          `json:"kubernetesGroups"`
	AccessEntryArn   string            `json:"accessEntryArn"`
	CreatedAt        Time              `json:"createdAt"`
	ModifiedAt       Time              `json:"modifiedAt"`
	Tags             map[string]string `json:"tags"`
	Username         string            `json:"username"`
	Type             string            `json:"type"`
}

// AccessScope says where an access policy applies.
type AccessScope struct {
	Type       string   `json:"type,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// AssociatedAccessPolicy is an access policy associated with an access entry.
type AssociatedAccessPolicy struct {
	PolicyArn    string      `json:"policyArn"`
	AccessScope  AccessScope `json:"accessScope"`
	AssociatedAt Time        `json:"associatedAt"`
	ModifiedAt   Time        `json:"modifiedAt"`
}

// AccessPolicy is one entry of ListAccessPolicies.
type AccessPolicy struct {
	Name string `json:"name"`
	Arn  string `json:"arn"`
}

// CreateAccessEntryRequest is the CreateAccessEntry body.
type CreateAccessEntryRequest struct {
	PrincipalArn       string            `json:"principalArn"`
	KubernetesGroups   []string          `json:"kubernetesGroups,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	ClientRequestToken string            `json:"clientRequestToken,omitempty"`
	Username           string            `json:"username,omitempty"`
	Type               string            `json:"type,omitempty"`
}

// UpdateAccessEntryRequest is the UpdateAccessEntry body.
type UpdateAccessEntryRequest struct {
	KubernetesGroups   []string `json:"kubernetesGroups,omitempty"`
	ClientRequestToken string   `json:"clientRequestToken,omitempty"`
	Username           string   `json:"username,omitempty"`
}

// AssociateAccessPolicyRequest is the AssociateAccessPolicy body.
type AssociateAccessPolicyRequest struct {
	PolicyArn   string       `json:"policyArn"`
	AccessScope *AccessScope `json:"accessScope"`
}
