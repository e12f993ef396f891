package iam

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The story with the real AWS CLI (botocore): root's profile makes a
// user, its key and a role; the user's profile assumes the role; the session
// is the role. It skips when the CLI is not installed, like package auth's
// CLI test.
func TestAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	e := newTestEnv(t)
	home := t.TempDir()
	credFile := filepath.Join(home, "credentials")
	writeProfiles := func(profiles map[string][2]string) {
		var b strings.Builder
		for name, kv := range profiles {
			b.WriteString("[" + name + "]\naws_access_key_id = " + kv[0] + "\naws_secret_access_key = " + kv[1] + "\n")
		}
		if err := os.WriteFile(credFile, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	profiles := map[string][2]string{"default": {e.root.AccessKeyID, e.root.SecretAccessKey}}
	writeProfiles(profiles)

	run := func(extraEnv []string, args ...string) (string, error) {
		cmd := exec.Command(awsPath, append(args, "--endpoint-url", e.srv.URL, "--output", "json")...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "HOME="+home, "AWS_SHARED_CREDENTIALS_FILE="+credFile, "AWS_CONFIG_FILE="+filepath.Join(home, "config"),
			"AWS_EC2_METADATA_DISABLED=true", "AWS_DEFAULT_REGION="+testRegion, "AWS_MAX_ATTEMPTS=1")
		cmd.Env = append(cmd.Env, extraEnv...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	runJSON := func(v any, extraEnv []string, args ...string) {
		t.Helper()
		out, err := run(extraEnv, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}

	var user struct {
		User struct{ UserName, UserId, Arn, Path string }
	}
	runJSON(&user, nil, "iam", "create-user", "--user-name", "alice")
	aliceArn := "arn:aws:iam::" + testAccount + ":user/alice"
	if user.User.Arn != aliceArn || !reUserID.MatchString(user.User.UserId) {
		t.Fatalf("create-user: %+v", user)
	}
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey, Status string }
	}
	runJSON(&key, nil, "iam", "create-access-key", "--user-name", "alice")
	if key.AccessKey.Status != "Active" || !reSecret.MatchString(key.AccessKey.SecretAccessKey) {
		t.Fatalf("create-access-key: %+v", key)
	}
	profiles["alice"] = [2]string{key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey}
	writeProfiles(profiles)

	var ident struct{ UserId, Account, Arn string }
	runJSON(&ident, nil, "sts", "get-caller-identity", "--profile", "alice")
	if ident.Arn != aliceArn {
		t.Fatalf("alice's identity: %+v", ident)
	}

	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceArn + `"},"Action":"sts:AssumeRole"}]}`
	var role struct {
		Role struct {
			RoleName, RoleId, Arn    string
			AssumeRolePolicyDocument map[string]any // the CLI decodes IAM's URL-encoded document
		}
	}
	runJSON(&role, nil, "iam", "create-role", "--role-name", "deployer", "--assume-role-policy-document", doc, "--max-session-duration", "7200")
	if role.Role.Arn != "arn:aws:iam::"+testAccount+":role/deployer" || role.Role.AssumeRolePolicyDocument["Version"] != "2012-10-17" {
		t.Fatalf("create-role: %+v", role)
	}
	var got struct {
		Role struct{ MaxSessionDuration int }
	}
	runJSON(&got, nil, "iam", "get-role", "--role-name", "deployer")
	if got.Role.MaxSessionDuration != 7200 {
		t.Fatalf("get-role: %+v", got)
	}
	var lists struct{ Users []struct{ UserName string } }
	runJSON(&lists, nil, "iam", "list-users")
	if len(lists.Users) != 1 || lists.Users[0].UserName != "alice" {
		t.Fatalf("list-users: %+v", lists)
	}
	// With --endpoint-url the CLI signs IAM for its region; without, for
	// us-east-1. Both are accepted.
	runJSON(&lists, nil, "iam", "list-users", "--region", "us-east-1")
	if len(lists.Users) != 1 {
		t.Fatalf("list-users in us-east-1: %+v", lists)
	}

	var assumed struct {
		Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
		AssumedRoleUser struct{ AssumedRoleId, Arn string }
	}
	runJSON(&assumed, nil, "sts", "assume-role", "--profile", "alice", "--role-arn", role.Role.Arn, "--role-session-name", "cli", "--duration-seconds", "7200")
	sessionArn := "arn:aws:sts::" + testAccount + ":assumed-role/deployer/cli"
	if assumed.AssumedRoleUser.Arn != sessionArn || assumed.AssumedRoleUser.AssumedRoleId != role.Role.RoleId+":cli" ||
		!reSessionID.MatchString(assumed.Credentials.AccessKeyId) || assumed.Credentials.Expiration == "" {
		t.Fatalf("assume-role: %+v", assumed)
	}
	runJSON(&ident, []string{"AWS_ACCESS_KEY_ID=" + assumed.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + assumed.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + assumed.Credentials.SessionToken}, "sts", "get-caller-identity")
	if ident.Arn != sessionArn {
		t.Fatalf("session identity: %+v", ident)
	}

	// Errors as the CLI prints them.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"iam", "get-user", "--user-name", "nobody"}, "An error occurred (NoSuchEntity) when calling the GetUser operation: The user with name nobody cannot be found."},
		{[]string{"iam", "create-user", "--user-name", "alice"}, "(EntityAlreadyExists) when calling the CreateUser operation: User with name alice already exists."},
		{[]string{"sts", "assume-role", "--role-arn", role.Role.Arn, "--role-session-name", "root"}, "(AccessDenied) when calling the AssumeRole operation: Roles may not be assumed by root accounts."},
		{[]string{"iam", "delete-user", "--user-name", "alice"}, "(DeleteConflict)"},
	} {
		out, err := run(nil, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("aws %s: %v\n%s", strings.Join(tc.args, " "), err, out)
		}
	}

	runJSON(nil, nil, "iam", "delete-access-key", "--user-name", "alice", "--access-key-id", key.AccessKey.AccessKeyId)
	out, err := run(nil, "sts", "get-caller-identity", "--profile", "alice")
	if err == nil || !strings.Contains(out, "(UnrecognizedClientException)") {
		t.Fatalf("deleted key: %v\n%s", err, out)
	}
	runJSON(nil, nil, "iam", "delete-user", "--user-name", "alice")
	runJSON(nil, nil, "iam", "delete-role", "--role-name", "deployer")
}
