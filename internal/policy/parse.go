// Package policy parses IAM identity policies and evaluates requests against
// them as AWS documents it: an explicit Deny wins, then an Allow, else the
// request is implicitly denied. Action/NotAction, Resource/NotResource with
// wildcards, policy variables and the condition operators are supported. It
// is pure Go with no I/O: the services decide what a call's action, resource
// and context keys are, and IAM decides which policies apply to a caller.
package policy

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
)

// Policy is a parsed identity (or session) policy.
type Policy struct {
	Version    string
	Statements []Statement

	byAction actionIndex // filled as calls come
}

// Statement is one statement, with patterns ready to match.
type Statement struct {
	Sid          string
	Allow        bool
	Actions      []string // lower-cased patterns; nil when NotAction is used
	NotActions   []string
	Resources    []string // nil when NotResource is used
	NotResources []string
	Conditions   []Condition
	// Principal and NotPrincipal are a trust policy's (ParseTrust); an
	// identity policy has neither.
	Principal    *Principals
	NotPrincipal *Principals
}

// MalformedError is IAM's MalformedPolicyDocument, with IAM's message.
type MalformedError struct{ Msg string }

func (e *MalformedError) Error() string { return e.Msg }

func malformed(msg string) error { return &MalformedError{Msg: msg} }

// Messages IAM gives for malformed identity policies.
const (
	MsgInvalidJSON       = "This policy contains invalid Json"
	MsgSyntax            = "Syntax errors in policy."
	MsgVersion           = "The policy must contain a valid version string"
	MsgMissingEffect     = "Missing required field Effect"
	MsgMissingAction     = "Policy statement must contain actions."
	MsgMissingResource   = "Policy statement must contain resources."
	MsgPrincipal         = "Policy document should not specify a principal."
	MsgVendor            = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	MsgDuplicateSid      = "Statement IDs (SID) in a single policy must be unique."
	MsgConditionNotBlock = "Syntax errors in policy."
)

// Parse checks an identity policy document as IAM does at CreatePolicy,
// PutUserPolicy and for session policies, and returns it ready to evaluate.
// The error is a *MalformedError.
func Parse(doc string) (*Policy, error) {
	return parse(doc, false)
}

// parse reads an identity policy or, if trust, a trust policy.
func parse(doc string, trust bool) (*Policy, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil || top == nil {
		return nil, malformed(MsgInvalidJSON)
	}
	p := &Policy{Version: "2008-10-17"}
	for k, raw := range top {
		switch k {
		case "Version":
			var v string
			if json.Unmarshal(raw, &v) != nil || (v != "2012-10-17" && v != "2008-10-17") {
				return nil, malformed(MsgVersion)
			}
			p.Version = v
		case "Id":
			var id string
			if json.Unmarshal(raw, &id) != nil {
				return nil, malformed(MsgSyntax)
			}
		case "Statement":
		default:
			return nil, malformed(MsgSyntax)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, malformed(MsgSyntax)
	}
	var raws []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		raws = []json.RawMessage{raw}
	} else if json.Unmarshal(raw, &raws) != nil || len(raws) == 0 {
		return nil, malformed(MsgSyntax)
	}
	sids := map[string]bool{}
	for _, r := range raws {
		st, err := parseStatement(r, trust)
		if err != nil {
			return nil, err
		}
		if st.Sid != "" && !trust {
			if sids[st.Sid] {
				return nil, malformed(MsgDuplicateSid)
			}
			sids[st.Sid] = true
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(raw json.RawMessage, trust bool) (Statement, error) {
	var st Statement
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return st, malformed(MsgSyntax)
	}
	for k := range m {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Condition":
		case "Resource", "NotResource":
			if trust {
				return st, malformed(MsgProhibitedResource)
			}
		case "Principal", "NotPrincipal":
			if !trust {
				return st, malformed(MsgPrincipal)
			}
		default:
			return st, malformed(MsgSyntax)
		}
	}
	if raw, ok := m["Sid"]; ok {
		if json.Unmarshal(raw, &st.Sid) != nil || !trust && !validSid(st.Sid) {
			return st, malformed(MsgSyntax)
		}
	}
	effect, ok := m["Effect"]
	if !ok {
		return st, malformed(MsgMissingEffect)
	}
	var e string
	if json.Unmarshal(effect, &e) != nil || (e != "Allow" && e != "Deny") {
		return st, malformed(MsgSyntax)
	}
	st.Allow = e == "Allow"

	var err error
	if trust {
		if err = st.parsePrincipal(m); err != nil {
			return st, err
		}
		if st.Actions, st.NotActions, err = either(m, "Action", "NotAction", MsgMissingTrustAction); err != nil {
			return st, err
		}
		for _, a := range append(append([]string(nil), st.Actions...), st.NotActions...) {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "sts:") {
				return st, malformed(MsgNotSTSAction)
			}
		}
	} else {
		if st.Actions, st.NotActions, err = either(m, "Action", "NotAction", MsgMissingAction); err != nil {
			return st, err
		}
		for _, a := range append(append([]string(nil), st.Actions...), st.NotActions...) {
			if a != "*" && !validAction(a) {
				return st, malformed(MsgVendor)
			}
		}
	}
	lower(st.Actions)
	lower(st.NotActions)
	if !trust {
		if st.Resources, st.NotResources, err = either(m, "Resource", "NotResource", MsgMissingResource); err != nil {
			return st, err
		}
	}
	for _, r := range append(append([]string(nil), st.Resources...), st.NotResources...) {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return st, malformed("Resource " + r + " must be in ARN format or \"*\".")
		}
		if r != "*" && strings.Count(r, ":") < 5 {
			return st, malformed("Resource " + r + " must be in ARN format or \"*\".")
		}
	}
	if raw, ok := m["Condition"]; ok {
		if st.Conditions, err = parseConditions(raw); err != nil {
			return st, err
		}
	}
	return st, nil
}

// parsePrincipal reads a trust statement's Principal or NotPrincipal: exactly one.
func (st *Statement) parsePrincipal(m map[string]json.RawMessage) error {
	raw, has := m["Principal"]
	notRaw, hasNot := m["NotPrincipal"]
	var err error
	switch {
	case has && hasNot:
		return malformed(MsgSyntax)
	case !has && !hasNot:
		return malformed(MsgMissingPrincipal)
	case has:
		st.Principal, err = parsePrincipals(raw)
	default:
		st.NotPrincipal, err = parsePrincipals(notRaw)
	}
	return err
}

// either reads the element name or its Not form: exactly one must be there.
func either(m map[string]json.RawMessage, name, notName, missing string) (yes, no []string, err error) {
	raw, has := m[name]
	notRaw, hasNot := m[notName]
	switch {
	case has && hasNot:
		return nil, nil, malformed(MsgSyntax)
	case !has && !hasNot:
		return nil, nil, malformed(missing)
	case has:
		yes, err = stringOrList(raw)
		return yes, nil, err
	default:
		no, err = stringOrList(notRaw)
		return nil, no, err
	}
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var l []string
	if json.Unmarshal(raw, &l) != nil || len(l) == 0 {
		return nil, malformed(MsgSyntax)
	}
	return l, nil
}

// validAction is VENDOR:ACTION with wildcards allowed in the action.
func validAction(a string) bool {
	vendor, act, ok := strings.Cut(a, ":")
	if !ok || vendor == "" || act == "" {
		return false
	}
	for _, c := range vendor {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validSid(s string) bool {
	for _, c := range s {
		if c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c)) {
			return false
		}
	}
	return true
}

func lower(l []string) {
	for i, s := range l {
		l[i] = strings.ToLower(s)
	}
}

// Size is a policy's size as IAM counts it against its quotas: its
// characters, white space excluded.
func Size(doc string) int {
	n := 0
	for _, c := range doc {
		if !unicode.IsSpace(c) {
			n++
		}
	}
	return n
}
