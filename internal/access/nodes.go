package access

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/authn"
	"github.com/kplane/kplane/internal/store"
)

// Nodes join as aws-iam-authenticator lets them on EKS: the node role is
// assumed with the instance id as session name, and the role's mapping
// (aws-auth mapRoles, or an EC2_LINUX access entry) names the user
// system:node:{{EC2PrivateDNSName}}, the private DNS name of that instance.

// EC2PrivateDNSName is the template of the instance's private DNS name.
const EC2PrivateDNSName = "{{EC2PrivateDNSName}}"

// NodeUsername and NodeGroups are what an EC2_LINUX access entry gives.
const NodeUsername = "system:node:" + EC2PrivateDNSName

var NodeGroups = []string{"system:nodes"}

// HybridNodeUsername is what a HYBRID_LINUX access entry gives: nodes on
// machines that are not instances (EKS Hybrid Nodes; `kplane node join`)
// take their node role with their node name as session name.
const HybridNodeUsername = "system:node:{{SessionName}}"

// nodeEntryTypes are the access entry types of nodes: EKS fixes their
// username and groups (Windows nodes also run kube-proxy's Windows group).
var nodeEntryTypes = map[string]struct {
	username string
	groups   []string
}{
	"EC2_LINUX":    {NodeUsername, NodeGroups},
	"EC2_WINDOWS":  {NodeUsername, []string{"system:nodes", "eks:kube-proxy-windows"}},
	"HYBRID_LINUX": {HybridNodeUsername, NodeGroups},
}

// NodeEntryIdentity is the username and groups EKS gives an access entry of
// a node type; ok is false for other types.
func NodeEntryIdentity(typ string) (username string, groups []string, ok bool) {
	t, ok := nodeEntryTypes[typ]
	return t.username, append([]string(nil), t.groups...), ok
}

// instanceIDPattern is aws-iam-authenticator's: a session name that can be an instance id.
var instanceIDPattern = regexp.MustCompile(`^i-(\w{8}|\w{17})$`)

// errNoInstance: the session names no running instance, so the template
// cannot be filled and the identity gets no access.
var errNoInstance = errors.New("access: the session name is not a running instance's id")

// nodeEntryUser is the user of a node access entry.
func nodeEntryUser(e *store.AccessEntryRecord, id *auth.TokenIdentity) (authn.User, bool) {
	username, groups, ok := NodeEntryIdentity(e.Entry.Type)
	if !ok {
		return authn.User{}, false
	}
	return authn.User{Username: expand(username, id), Groups: groups}, true
}

// fillInstanceName replaces {{EC2PrivateDNSName}} with the private DNS name
// of the instance whose id is the session name, as aws-iam-authenticator
// does with EC2's DescribeInstances; errNoInstance when there is none (or
// it is terminated).
func (m *Mapper) fillInstanceName(ctx context.Context, tmpl string, id *auth.TokenIdentity) (string, error) {
	if !strings.Contains(tmpl, EC2PrivateDNSName) {
		return tmpl, nil
	}
	if !instanceIDPattern.MatchString(id.SessionName) {
		return "", errNoInstance
	}
	inst, err := m.Store.GetInstance(ctx, id.SessionName)
	if errors.Is(err, store.ErrNotFound) || err == nil && (!inst.Live() || inst.PrivateDNSName == "") {
		return "", errNoInstance
	}
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(tmpl, EC2PrivateDNSName, inst.PrivateDNSName), nil
}
