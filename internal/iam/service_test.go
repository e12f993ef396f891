package iam

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/kplane/kplane/internal/auth"
)

const trustAliceFmt = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"%s"},"Action":"sts:AssumeRole"}]}`

var (
	reUserID    = regexp.MustCompile(`^AIDA[A-Z2-7]{16}$`)
	reRoleID    = regexp.MustCompile(`^AROA[A-Z2-7]{16}$`)
	reAccessKey = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	reSessionID = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	reSecret    = regexp.MustCompile(`^[A-Za-z0-9]{40}$`)
)

// The story, end to end with the AWS SDK: root makes a user and a key;
// the key is the user; root makes a role that trusts the user; the user
// assumes it; the session is the role; an ended session is refused; a deleted
// key stops working at once.
func TestUserAssumesRole(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	rootIAM := e.iam(e.rootAWS)

	cu, err := rootIAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/team/"),
		Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}})
	if err != nil {
		t.Fatal(err)
	}
	aliceArn := "arn:aws:iam::" + testAccount + ":user/team/alice"
	u := cu.User
	if aws.ToString(u.Arn) != aliceArn || aws.ToString(u.Path) != "/team/" || !reUserID.MatchString(aws.ToString(u.UserId)) ||
		u.CreateDate == nil || time.Since(*u.CreateDate) > time.Minute || len(u.Tags) != 1 || aws.ToString(u.Tags[0].Value) != "platform" {
		t.Fatalf("CreateUser: %+v", u)
	}

	ck, err := rootIAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	k := ck.AccessKey
	if !reAccessKey.MatchString(aws.ToString(k.AccessKeyId)) || !reSecret.MatchString(aws.ToString(k.SecretAccessKey)) ||
		k.Status != iamtypes.StatusTypeActive || aws.ToString(k.UserName) != "alice" {
		t.Fatalf("CreateAccessKey: %+v", k)
	}
	aliceKey := aws.Credentials{AccessKeyID: aws.ToString(k.AccessKeyId), SecretAccessKey: aws.ToString(k.SecretAccessKey)}

	// The new key works at once.
	id, err := e.sts(aliceKey).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Arn) != aliceArn || aws.ToString(id.UserId) != aws.ToString(u.UserId) || aws.ToString(id.Account) != testAccount {
		t.Fatalf("alice's identity: %s %s %s", aws.ToString(id.Arn), aws.ToString(id.UserId), aws.ToString(id.Account))
	}

	doc := strings.Replace(trustAliceFmt, "%s", aliceArn, 1)
	cr, err := rootIAM.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(doc), Path: aws.String("/ci/"),
		MaxSessionDuration: aws.Int32(7200), Description: aws.String("deploys things"),
		Tags: []iamtypes.Tag{{Key: aws.String("owner"), Value: aws.String("alice")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	roleArn := "arn:aws:iam::" + testAccount + ":role/ci/deployer"
	r := cr.Role
	if aws.ToString(r.Arn) != roleArn || !reRoleID.MatchString(aws.ToString(r.RoleId)) || aws.ToInt32(r.MaxSessionDuration) != 7200 ||
		aws.ToString(r.Description) != "deploys things" || len(r.Tags) != 1 {
		t.Fatalf("CreateRole: %+v", r)
	}
	// IAM returns policy documents URL-encoded.
	if got, err := url.QueryUnescape(aws.ToString(r.AssumeRolePolicyDocument)); err != nil || got != doc {
		t.Fatalf("policy document %q", aws.ToString(r.AssumeRolePolicyDocument))
	}

	before := time.Now()
	ar, err := e.sts(aliceKey).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleArn), RoleSessionName: aws.String("ci-run@1"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	c := ar.Credentials
	wantSessionArn := "arn:aws:sts::" + testAccount + ":assumed-role/deployer/ci-run@1"
	if aws.ToString(ar.AssumedRoleUser.Arn) != wantSessionArn ||
		aws.ToString(ar.AssumedRoleUser.AssumedRoleId) != aws.ToString(r.RoleId)+":ci-run@1" {
		t.Fatalf("AssumedRoleUser: %+v", ar.AssumedRoleUser)
	}
	if !reSessionID.MatchString(aws.ToString(c.AccessKeyId)) || !reSecret.MatchString(aws.ToString(c.SecretAccessKey)) ||
		len(aws.ToString(c.SessionToken)) < 200 || c.Expiration == nil {
		t.Fatalf("Credentials: %+v", c)
	}
	if d := c.Expiration.Sub(before); d < 899*time.Second || d > 901*time.Second {
		t.Fatalf("expires in %v, want 900s", d)
	}
	session := aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}

	id, err = e.sts(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Arn) != wantSessionArn || aws.ToString(id.UserId) != aws.ToString(r.RoleId)+":ci-run@1" {
		t.Fatalf("session identity: %s %s", aws.ToString(id.Arn), aws.ToString(id.UserId))
	}

	// The session's secret without its token, or with another, is no good.
	noToken := session
	noToken.SessionToken = ""
	_, err = e.sts(noToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, auth.CodeUnrecognizedClient, "The security token included in the request is invalid.", 403)
	badToken := session
	badToken.SessionToken = session.SessionToken[:len(session.SessionToken)-4] + "AAAA"
	_, err = e.sts(badToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, auth.CodeUnrecognizedClient, "", 403)

	// A session past its expiry: STS's clock is moved back two hours while it
	// makes one, so the session ended 105 minutes ago by the real clock.
	e.svc.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	old, err := e.sts(aliceKey).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleArn), RoleSessionName: aws.String("old"), DurationSeconds: aws.Int32(900)})
	e.svc.now = time.Now
	if err != nil {
		t.Fatal(err)
	}
	if !old.Credentials.Expiration.Before(time.Now()) {
		t.Fatalf("session expires %v", old.Credentials.Expiration)
	}
	expired := aws.Credentials{AccessKeyID: aws.ToString(old.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(old.Credentials.SecretAccessKey), SessionToken: aws.ToString(old.Credentials.SessionToken)}
	_, err = e.sts(expired).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, auth.CodeExpiredToken, "The security token included in the request is expired", 403)

	// Role chaining: the session may assume a role that trusts the role, for an hour at most.
	chainDoc := strings.Replace(trustAliceFmt, "%s", roleArn, 1)
	if _, err := rootIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("next"), AssumeRolePolicyDocument: aws.String(chainDoc), MaxSessionDuration: aws.Int32(43200)}); err != nil {
		t.Fatal(err)
	}
	nextArn := "arn:aws:iam::" + testAccount + ":role/next"
	chained, err := e.sts(session).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(nextArn), RoleSessionName: aws.String("hop")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(chained.AssumedRoleUser.Arn) != "arn:aws:sts::"+testAccount+":assumed-role/next/hop" {
		t.Fatalf("chained: %+v", chained.AssumedRoleUser)
	}
	_, err = e.sts(session).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(nextArn), RoleSessionName: aws.String("hop"), DurationSeconds: aws.Int32(7200)})
	wantAPIError(t, err, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.", 400)
	// Alice is not trusted by "next".
	_, err = e.sts(aliceKey).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(nextArn), RoleSessionName: aws.String("x1")})
	wantAPIError(t, err, "AccessDenied", "User: "+aliceArn+" is not authorized to perform: sts:AssumeRole on resource: "+nextArn, 403)

	// Delete the key: refused from then on, within a second at most.
	if _, err := rootIAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	for {
		_, err = e.sts(aliceKey).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || time.Since(deleted) > time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantAPIError(t, err, auth.CodeUnrecognizedClient, "The security token included in the request is invalid.", 403)
	// The session it made lives on until it expires, as on AWS.
	if _, err := e.sts(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("session after its maker's key went: %v", err)
	}
}

// Trust policies decide who may assume a role.
func TestAssumeRoleTrust(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	rootIAM := e.iam(e.rootAWS)
	keyOf := func(name string) aws.Credentials {
		if _, err := rootIAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		k, err := rootIAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		// A trust policy naming the account (not the user) leaves it to the
		// user's own policies, as on AWS: these allow assuming any role.
		if _, err := rootIAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("assume"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
		return aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}
	}
	alice, bob := keyOf("alice"), keyOf("bob")
	arnOf := func(kind, name string) string { return "arn:aws:iam::" + testAccount + ":" + kind + "/" + name }

	for _, tc := range []struct {
		name, principal string
		alice, bob      bool
	}{
		{"user arn", `{"AWS":"` + arnOf("user", "alice") + `"}`, true, false},
		{"list of arns", `{"AWS":["` + arnOf("user", "bob") + `","` + arnOf("user", "alice") + `"]}`, true, true},
		{"account id", `{"AWS":"` + testAccount + `"}`, true, true},
		{"account root", `{"AWS":"arn:aws:iam::` + testAccount + `:root"}`, true, true},
		{"other account", `{"AWS":"arn:aws:iam::111122223333:root"}`, false, false},
		{"anyone", `"*"`, true, true},
		{"aws star", `{"AWS":"*"}`, true, true},
		{"service only", `{"Service":"eks.amazonaws.com"}`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			role := strings.ReplaceAll(tc.name, " ", "-")
			doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + tc.principal + `,"Action":["sts:AssumeRole"]}]}`
			if _, err := rootIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(doc)}); err != nil {
				t.Fatal(err)
			}
			for _, who := range []struct {
				creds aws.Credentials
				arn   string
				want  bool
			}{{alice, arnOf("user", "alice"), tc.alice}, {bob, arnOf("user", "bob"), tc.bob}} {
				_, err := e.sts(who.creds).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", role)), RoleSessionName: aws.String("s1")})
				if who.want && err != nil {
					t.Fatalf("%s refused: %v", who.arn, err)
				}
				if !who.want {
					wantAPIError(t, err, "AccessDenied", "User: "+who.arn+" is not authorized to perform: sts:AssumeRole on resource: "+arnOf("role", role), 403)
				}
			}
		})
	}

	// Deny wins; conditions are not evaluated, so a conditional Allow allows nothing.
	for name, doc := range map[string]string{
		"deny-bob":    `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:*"},{"Effect":"Deny","Principal":{"AWS":"` + arnOf("user", "bob") + `"},"Action":"sts:AssumeRole"}]}`,
		"conditional": `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + arnOf("user", "bob") + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}]}`,
	} {
		if _, err := rootIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
		_, err := e.sts(bob).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", name)), RoleSessionName: aws.String("s1"), ExternalId: aws.String("x1")})
		wantAPIError(t, err, "AccessDenied", "", 403)
	}
	if _, err := e.sts(alice).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "deny-bob")), RoleSessionName: aws.String("s1")}); err != nil {
		t.Fatalf("alice on deny-bob: %v", err)
	}

	// A role that does not exist is refused like one that does not trust you.
	_, err := e.sts(alice).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "nope")), RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", "User: "+arnOf("user", "alice")+" is not authorized to perform: sts:AssumeRole on resource: "+arnOf("role", "nope"), 403)
	// So is one named with the wrong path.
	_, err = e.sts(alice).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "x/anyone")), RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", "", 403)
	// Root may not assume roles, as on AWS.
	_, err = e.sts(e.rootAWS).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "anyone")), RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", "Roles may not be assumed by root accounts.", 403)

	// Parameters.
	for _, tc := range []struct {
		in  sts.AssumeRoleInput
		msg string
	}{
		{sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "anyone")), RoleSessionName: aws.String("a")},
			"1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "anyone")), RoleSessionName: aws.String("a b")},
			`1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "anyone")), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(899)},
			"1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{sts.AssumeRoleInput{RoleArn: aws.String(arnOf("role", "anyone")), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(3601)},
			"The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{sts.AssumeRoleInput{RoleArn: aws.String("not-an-arn-but-long-enough"), RoleSessionName: aws.String("ok")},
			"not-an-arn-but-long-enough is invalid"},
	} {
		_, err := e.sts(alice).AssumeRole(ctx, &tc.in)
		wantAPIError(t, err, "ValidationError", tc.msg, 400)
	}
}

// IAM's errors, as the SDK parses them into its modeled types.
func TestIAMErrors(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)

	_, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Fatalf("GetUser nobody: %v", err)
	}
	wantAPIError(t, err, "NoSuchEntity", "The user with name nobody cannot be found.", 404)
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("nobody")})
	wantAPIError(t, err, "NoSuchEntity", "The user with name nobody cannot be found.", 404)
	_, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("nobody")})
	wantAPIError(t, err, "NoSuchEntity", "The user with name nobody cannot be found.", 404)
	_, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nobody")})
	wantAPIError(t, err, "NoSuchEntity", "The role with name nobody cannot be found.", 404)
	_, err = c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("nobody")})
	wantAPIError(t, err, "NoSuchEntity", "The role with name nobody cannot be found.", 404)

	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("Alice")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}) // names ignore case
	var eae *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &eae) {
		t.Fatalf("duplicate user: %v", err)
	}
	wantAPIError(t, err, "EntityAlreadyExists", "User with name alice already exists.", 409)

	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("a b"), Path: aws.String("nope")})
	wantAPIError(t, err, "ValidationError", `2 validation errors detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+; `+
		`Value 'nope' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`, 400)

	var keys []string
	for i := 0; i < 2; i++ {
		k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, *k.AccessKey.AccessKeyId)
	}
	_, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	var lee *iamtypes.LimitExceededException
	if !errors.As(err, &lee) {
		t.Fatalf("third key: %v", err)
	}
	wantAPIError(t, err, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)

	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete entity, must delete access keys first.", 409)
	_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAAAAAAAAAAAAAAAAA")})
	wantAPIError(t, err, "NoSuchEntity", "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found.", 404)

	for _, tc := range []struct{ doc, msg string }{
		{`{"Statement":`, "This policy contains invalid Json"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`, "Missing required field Principal"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`, "AssumeRole policy may only specify STS AssumeRole actions."},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}`, "Has prohibited field Resource"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:user/ghost"},"Action":"sts:AssumeRole"}]}`,
			`Invalid principal in policy: "AWS":"arn:aws:iam::` + testAccount + `:user/ghost"`},
		{`{"Version":"2001-01-01","Statement":[]}`, "The policy must contain a valid version string"},
	} {
		_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(tc.doc)})
		var mpd *iamtypes.MalformedPolicyDocumentException
		if !errors.As(err, &mpd) {
			t.Fatalf("%s: %v", tc.doc, err)
		}
		wantAPIError(t, err, "MalformedPolicyDocument", tc.msg, 400)
	}
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`),
		MaxSessionDuration: aws.Int32(60)})
	wantAPIError(t, err, "ValidationError", "1 validation error detected: Value '60' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600", 400)
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`),
		Tags: []iamtypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("A"), Value: aws.String("2")}}})
	wantAPIError(t, err, "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.", 400)
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("R"), AssumeRolePolicyDocument: aws.String(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`)})
	wantAPIError(t, err, "EntityAlreadyExists", "Role with name R already exists.", 409)

	// Actions kplane does not have.
	_, err = c.ListSAMLProviders(ctx, &iam.ListSAMLProvidersInput{})
	wantAPIError(t, err, "InvalidAction", "Could not find operation ListSAMLProviders for version 2010-05-08", 400)
	_, err = e.sts(e.rootAWS).GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	wantAPIError(t, err, "InvalidAction", "Could not find operation GetSessionToken for version 2011-06-15", 400)

	// Not root: a user with no policy may do nothing, not even read itself,
	// as on AWS; the usual self-service policy (with ${aws:username}) lets
	// it look after its own keys, and nothing else.
	alice := aws.Credentials{AccessKeyID: keys[0]}
	_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(keys[1])})
	if err != nil {
		t.Fatal(err)
	}
	alice.SecretAccessKey = e.svc.keys.accessKeySecret(keys[0])
	ac := e.iam(alice)
	_, err = ac.GetUser(ctx, &iam.GetUserInput{})
	wantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::"+testAccount+":user/Alice is not authorized to perform: iam:GetUser on resource: arn:aws:iam::"+testAccount+
		":user/Alice because no identity-based policy allows the iam:GetUser action", 403)
	selfService := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetUser","iam:*AccessKey*"],"Resource":"arn:aws:iam::*:user/${aws:username}"}]}`
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("self"), PolicyDocument: aws.String(selfService)}); err != nil {
		t.Fatal(err)
	}
	me, err := ac.GetUser(ctx, &iam.GetUserInput{})
	if err != nil || aws.ToString(me.User.UserName) != "Alice" {
		t.Fatalf("GetUser of self: %+v %v", me, err)
	}
	own, err := ac.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil || aws.ToString(own.AccessKey.UserName) != "Alice" {
		t.Fatalf("CreateAccessKey for self: %v", err)
	}
	lk, err := ac.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil || len(lk.AccessKeyMetadata) != 2 {
		t.Fatalf("ListAccessKeys of self: %+v %v", lk, err)
	}
	if _, err := ac.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: own.AccessKey.AccessKeyId}); err != nil {
		t.Fatalf("DeleteAccessKey of self: %v", err)
	}
	aliceArn := "arn:aws:iam::" + testAccount + ":user/Alice"
	_, err = ac.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")})
	wantAPIError(t, err, "AccessDenied", "User: "+aliceArn+" is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::"+testAccount+
		":user/mallory because no identity-based policy allows the iam:CreateUser action", 403)
	_, err = ac.ListRoles(ctx, &iam.ListRolesInput{})
	wantAPIError(t, err, "AccessDenied", "", 403)
	_, err = ac.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")})
	wantAPIError(t, err, "AccessDenied", "", 403)
}

func TestIAMReadsAndLists(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)

	// Root about itself.
	me, err := c.GetUser(ctx, &iam.GetUserInput{})
	if err != nil || aws.ToString(me.User.Arn) != "arn:aws:iam::"+testAccount+":root" || aws.ToString(me.User.UserId) != testAccount {
		t.Fatalf("root GetUser: %+v %v", me, err)
	}
	lk, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil || len(lk.AccessKeyMetadata) != 1 || aws.ToString(lk.AccessKeyMetadata[0].AccessKeyId) != e.root.AccessKeyID {
		t.Fatalf("root ListAccessKeys: %+v %v", lk, err)
	}
	_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(e.root.AccessKeyID)})
	wantAPIError(t, err, "ValidationError", "", 400)

	lu, err := c.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil || len(lu.Users) != 0 || lu.IsTruncated {
		t.Fatalf("no users: %+v %v", lu, err)
	}
	for _, u := range []struct{ name, path string }{{"carol", "/ops/"}, {"alice", "/"}, {"Bob", "/ops/eu/"}, {"dave", "/dev/"}} {
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u.name), Path: aws.String(u.path),
			Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	var marker *string
	for pages := 0; ; pages++ {
		out, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Users {
			names = append(names, *u.UserName)
			if len(u.Tags) != 0 {
				t.Errorf("ListUsers returned tags, IAM does not")
			}
		}
		if !out.IsTruncated {
			if pages != 1 {
				t.Fatalf("%d pages", pages+1)
			}
			break
		}
		marker = out.Marker
	}
	if strings.Join(names, ",") != "alice,Bob,carol,dave" {
		t.Fatalf("users %v", names)
	}
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{PathPrefix: aws.String("/ops/"), MaxItems: aws.Int32(1)})
	names = nil
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Users {
			names = append(names, *u.UserName)
		}
	}
	if strings.Join(names, ",") != "Bob,carol" {
		t.Fatalf("users under /ops/: %v", names)
	}
	_, err = c.ListUsers(ctx, &iam.ListUsersInput{Marker: aws.String("%%%")})
	wantAPIError(t, err, "ValidationError", "Invalid Marker.", 400)

	got, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("BOB")})
	if err != nil || aws.ToString(got.User.UserName) != "Bob" || aws.ToString(got.User.Arn) != "arn:aws:iam::"+testAccount+":user/ops/eu/Bob" || len(got.User.Tags) != 1 {
		t.Fatalf("GetUser: %+v %v", got, err)
	}
	if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("dave")}); err != nil {
		t.Fatal(err)
	}

	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`
	for _, name := range []string{"web", "batch"} {
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	defArn, err := e.svc.EnsureDefaultRole(ctx)
	if err != nil || defArn != "arn:aws:iam::"+testAccount+":role/eks-cluster-role" {
		t.Fatalf("EnsureDefaultRole: %s %v", defArn, err)
	}
	lr, err := c.ListRoles(ctx, &iam.ListRolesInput{})
	if err != nil || len(lr.Roles) != 3 || *lr.Roles[0].RoleName != "batch" || *lr.Roles[1].RoleName != "eks-cluster-role" {
		t.Fatalf("ListRoles: %+v %v", lr, err)
	}
	if aws.ToInt32(lr.Roles[2].MaxSessionDuration) != 3600 {
		t.Fatalf("default MaxSessionDuration %d", aws.ToInt32(lr.Roles[2].MaxSessionDuration))
	}
	gr, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("eks-cluster-role")})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := url.QueryUnescape(aws.ToString(gr.Role.AssumeRolePolicyDocument)); !strings.Contains(d, `"Service":"eks.amazonaws.com"`) {
		t.Fatalf("default role's trust policy: %s", d)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("web")})
	wantAPIError(t, err, "NoSuchEntity", "", 404)
}

func TestEnsureDefaultRoleAndRoleExists(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	want := "arn:aws:iam::" + testAccount + ":role/eks-cluster-role"
	for i := 0; i < 2; i++ {
		got, err := e.svc.EnsureDefaultRole(ctx)
		if err != nil || got != want {
			t.Fatalf("EnsureDefaultRole: %q %v", got, err)
		}
	}
	r, err := e.st.GetIAMRole(ctx, DefaultRoleName)
	if err != nil || !reRoleID.MatchString(r.RoleID) {
		t.Fatalf("%+v %v", r, err)
	}
	for arn, want := range map[string]bool{
		want: true,
		"arn:aws:iam::" + testAccount + ":role/EKS-Cluster-Role":   true, // role names ignore case
		"arn:aws:iam::" + testAccount + ":role/x/eks-cluster-role": false,
		"arn:aws:iam::111122223333:role/eks-cluster-role":          false,
		"arn:aws:iam::" + testAccount + ":user/eks-cluster-role":   false,
		"arn:aws:iam::" + testAccount + ":role/missing":            false,
		"eks-cluster-role": false,
		"":                 false,
	} {
		got, err := e.svc.RoleExists(ctx, arn)
		if err != nil || got != want {
			t.Errorf("RoleExists(%q) = %v %v, want %v", arn, got, err, want)
		}
	}
	// Made once: a role the operator deleted stays deleted.
	if err := e.st.DeleteIAMRole(ctx, DefaultRoleName); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.EnsureDefaultRole(ctx); err != nil || got != want {
		t.Fatalf("after delete: %q %v", got, err)
	}
	if ok, _ := e.svc.RoleExists(ctx, want); ok {
		t.Fatal("default role made again after it was deleted")
	}
}

// IAM is global: calls signed for us-east-1 (what every client does) and for
// kplane's region are accepted, others are not.
func TestIAMSigningRegion(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for _, region := range []string{"us-east-1", testRegion} {
		if _, err := e.iamIn(region, e.rootAWS).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
			t.Fatalf("%s: %v", region, err)
		}
	}
	_, err := e.iamIn("eu-west-1", e.rootAWS).ListUsers(ctx, &iam.ListUsersInput{})
	wantAPIError(t, err, auth.CodeInvalidSignature, "Credential should be scoped to a valid region. ", 403)
	// STS stays in kplane's region.
	s := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), RetryMaxAttempts: 1,
		Credentials: e.iam(e.rootAWS).Options().Credentials})
	_, err = s.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, auth.CodeInvalidSignature, "", 403)
	// And an IAM key signed for STS is not IAM.
	var apiErr smithy.APIError
	if _, err := e.sts(aws.Credentials{AccessKeyID: e.root.AccessKeyID, SecretAccessKey: "wrong"}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); !errors.As(err, &apiErr) ||
		apiErr.ErrorCode() != auth.CodeInvalidSignature {
		t.Fatalf("wrong secret: %v", err)
	}
}
