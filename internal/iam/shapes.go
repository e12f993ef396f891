package iam

import (
	"strings"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/store"
)

// The XML shapes of IAM's and STS's results, in the element order AWS uses.

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type tagList struct {
	Members []tag `xml:"member"`
}

type userShape struct {
	Path       string `xml:"Path,omitempty"`
	UserName   string `xml:"UserName,omitempty"`
	UserID     string `xml:"UserId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate,omitempty"`
	// PermissionsBoundary is in GetUser and CreateUser only, as in IAM.
	PermissionsBoundary *boundaryShape `xml:"PermissionsBoundary,omitempty"`
	Tags                *tagList       `xml:"Tags,omitempty"`
}

type roleShape struct {
	Path                     string         `xml:"Path"`
	RoleName                 string         `xml:"RoleName"`
	RoleID                   string         `xml:"RoleId"`
	Arn                      string         `xml:"Arn"`
	CreateDate               string         `xml:"CreateDate"`
	AssumeRolePolicyDocument string         `xml:"AssumeRolePolicyDocument"`
	Description              string         `xml:"Description,omitempty"`
	MaxSessionDuration       int            `xml:"MaxSessionDuration"`
	PermissionsBoundary      *boundaryShape `xml:"PermissionsBoundary,omitempty"`
	Tags                     *tagList       `xml:"Tags,omitempty"`
	RoleLastUsed             *struct{}      `xml:"RoleLastUsed,omitempty"`
}

type accessKeyShape struct {
	UserName        string `xml:"UserName,omitempty"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey,omitempty"`
	CreateDate      string `xml:"CreateDate,omitempty"`
}

type userResult struct {
	User userShape `xml:"User"`
}

type roleResult struct {
	Role roleShape `xml:"Role"`
}

type listUsersResult struct {
	Users struct {
		Members []userShape `xml:"member"`
	} `xml:"Users"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type listRolesResult struct {
	Roles struct {
		Members []roleShape `xml:"member"`
	} `xml:"Roles"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type createAccessKeyResult struct {
	AccessKey accessKeyShape `xml:"AccessKey"`
}

type listAccessKeysResult struct {
	AccessKeyMetadata struct {
		Members []accessKeyShape `xml:"member"`
	} `xml:"AccessKeyMetadata"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type callerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type assumeRoleResult struct {
	AssumedRoleUser struct {
		Arn           string `xml:"Arn"`
		AssumedRoleID string `xml:"AssumedRoleId"`
	} `xml:"AssumedRoleUser"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"Credentials"`
}

func (r *assumeRoleResult) set(cred *auth.Credential) {
	r.AssumedRoleUser.Arn = cred.Arn
	r.AssumedRoleUser.AssumedRoleID = cred.UserID
	r.Credentials.AccessKeyID = cred.AccessKeyID
	r.Credentials.SecretAccessKey = cred.SecretAccessKey
	r.Credentials.SessionToken = cred.SessionToken
	r.Credentials.Expiration = isoTime(cred.Expires)
}

// assumeRoleWithWebIdentityResult is AssumeRoleWithWebIdentity's answer.
type assumeRoleWithWebIdentityResult struct {
	assumeRoleResult
	SubjectFromWebIdentityToken string `xml:"SubjectFromWebIdentityToken"`
	Provider                    string `xml:"Provider"`
	Audience                    string `xml:"Audience"`
}

// isoTime is AWS's timestamp form in query-protocol responses.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func tagsShape(tags []store.IAMTag) *tagList {
	if len(tags) == 0 {
		return nil
	}
	l := &tagList{Members: make([]tag, len(tags))}
	for i, t := range tags {
		l.Members[i] = tag{Key: t.Key, Value: t.Value}
	}
	return l
}

func toStoreTags(tags []tag) []store.IAMTag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]store.IAMTag, len(tags))
	for i, t := range tags {
		out[i] = store.IAMTag{Key: t.Key, Value: t.Value}
	}
	return out
}

// userOf is the User shape; IAM's list calls leave tags out.
func userOf(u *store.IAMUser, withTags bool) userShape {
	sh := userShape{Path: u.Path, UserName: u.UserName, UserID: u.UserID, Arn: u.Arn, CreateDate: isoTime(u.CreateDate)}
	if withTags {
		sh.Tags = tagsShape(u.Tags)
		sh.PermissionsBoundary = boundaryOf(u.PermissionsBoundary)
	}
	return sh
}

// roleOf is the Role shape. full adds what only GetRole and CreateRole return.
func roleOf(r *store.IAMRole, full bool) roleShape {
	sh := roleShape{
		Path: r.Path, RoleName: r.RoleName, RoleID: r.RoleID, Arn: r.Arn, CreateDate: isoTime(r.CreateDate),
		AssumeRolePolicyDocument: policyEscape(r.AssumeRolePolicyDocument),
		Description:              r.Description, MaxSessionDuration: r.MaxSessionDuration,
	}
	if full {
		sh.Tags = tagsShape(r.Tags)
		sh.PermissionsBoundary = boundaryOf(r.PermissionsBoundary)
	}
	return sh
}

// policyEscape URL-encodes a policy document as IAM returns them (RFC 3986:
// everything but unreserved characters is escaped). The AWS CLI decodes it
// back into JSON; the SDKs hand it over as is.
func policyEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
