package policy

import (
	"net/http"
	"strings"

	"github.com/kplane/kplane/internal/auth"
)

// Authorizer decides every call of every service kplane speaks; IAM
// implements it. A service names the call's action and resource (and the
// condition keys only it knows, such as aws:RequestTag/*) and answers a
// refusal with its own AccessDenied shape and the refusal's message.
type Authorizer interface {
	Authorize(r *http.Request, cred *auth.Credential, req *Request) *Refusal
}

// Refusal is a denied call.
type Refusal struct {
	Decision Decision // ImplicitDeny or ExplicitDeny
	Message  string   // AWS's: "User: ARN is not authorized to perform: ACTION on resource: ARN because ..."
}

func (r *Refusal) Error() string { return r.Message }

// RequestTagKeys adds aws:RequestTag/KEY and aws:TagKeys for the tags a call sets.
func RequestTagKeys(keys map[string][]string, tags map[string]string) map[string][]string {
	if len(tags) == 0 {
		return keys
	}
	if keys == nil {
		keys = map[string][]string{}
	}
	names := make([]string, 0, len(tags))
	for k, v := range tags {
		keys["aws:requesttag/"+strings.ToLower(k)] = []string{v}
		names = append(names, k)
	}
	keys["aws:tagkeys"] = names
	return keys
}

// TagKeys adds aws:TagKeys for the tag keys a call removes.
func TagKeys(keys map[string][]string, names []string) map[string][]string {
	if len(names) == 0 {
		return keys
	}
	if keys == nil {
		keys = map[string][]string{}
	}
	keys["aws:tagkeys"] = names
	return keys
}

// ResourceTagKeys adds aws:ResourceTag/KEY for the tags of the resource a call acts on.
func ResourceTagKeys(keys map[string][]string, tags map[string]string) map[string][]string {
	if len(tags) == 0 {
		return keys
	}
	if keys == nil {
		keys = map[string][]string{}
	}
	for k, v := range tags {
		keys["aws:resourcetag/"+strings.ToLower(k)] = []string{v}
	}
	return keys
}
