package nodecreds

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/auth"
)

// A node's token, made from its role session's credentials, is what
// kplane's webhook verifies: for its cluster only, as the assumed role with
// the instance id as session name.
func TestTokenVerifiesAsTheRoleSession(t *testing.T) {
	sess := &auth.Credential{AccessKeyID: "ASIAEXAMPLE000000001", SecretAccessKey: "secret", SessionToken: "tok",
		Expires: time.Now().Add(time.Hour).Truncate(time.Second), AccountID: "000000000000",
		Arn: "arn:aws:sts::000000000000:assumed-role/node-role/i-0123456789abcdef0", UserID: "AROAEXAMPLE:i-0123456789abcdef0"}
	verifier := &auth.TokenVerifier{Verifier: &auth.Verifier{Region: "us-west-2", Credentials: auth.StaticCredentials{sess.AccessKeyID: sess}}, Region: "us-west-2"}

	dir := t.TempDir()
	path := Path(dir)
	if err := Write(path, File{AccessKeyID: sess.AccessKeyID, SecretAccessKey: sess.SecretAccessKey, SessionToken: sess.SessionToken, Expiration: sess.Expires}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi.Mode(), err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	token, expires, err := Token(context.Background(), f, "demo", "us-west-2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(expires) > 15*time.Minute || time.Until(expires) < 10*time.Minute {
		t.Errorf("token expires in %v", time.Until(expires))
	}
	id, rej := verifier.Verify(token, "demo")
	if rej != nil {
		t.Fatalf("token refused: %+v", rej)
	}
	if id.SessionName != "i-0123456789abcdef0" || id.CanonicalARN != "arn:aws:iam::000000000000:role/node-role" {
		t.Errorf("identity %+v", id)
	}
	if _, rej := verifier.Verify(token, "other"); rej == nil || rej.Reason != auth.TokenReasonSignatureMismatch {
		t.Errorf("token for another cluster: %+v", rej)
	}

	out, err := ExecCredential(token, expires, `{"apiVersion":"client.authentication.k8s.io/v1"}`)
	if err != nil {
		t.Fatal(err)
	}
	var ec struct {
		APIVersion string
		Status     struct{ Token string }
	}
	if err := json.Unmarshal(out, &ec); err != nil || ec.APIVersion != "client.authentication.k8s.io/v1" || ec.Status.Token != token {
		t.Errorf("ExecCredential %s: %v", out, err)
	}

	f.Expiration = time.Now().Add(-time.Minute)
	if _, _, err := Token(context.Background(), f, "demo", "us-west-2", time.Now()); err == nil {
		t.Error("a token from expired credentials")
	}
	if _, err := Read(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("Read of a missing file")
	}
}
