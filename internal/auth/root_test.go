package auth

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
)

var (
	akidPattern   = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9]{40}$`)
)

func TestLoadOrCreateRootCreatesThenReloads(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data") // does not exist yet
	first, err := LoadOrCreateRoot(dataDir, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	if !akidPattern.MatchString(first.AccessKeyID) || !secretPattern.MatchString(first.SecretAccessKey) {
		t.Fatalf("key pair does not look like AWS's: %q / (%d chars)", first.AccessKeyID, len(first.SecretAccessKey))
	}
	if first.Arn != testRootArn || first.UserID != testAccount || first.AccountID != testAccount ||
		first.SessionToken != "" || !first.Expires.IsZero() {
		t.Fatalf("root credential %+v", first)
	}

	path := filepath.Join(dataDir, RootCredentialsFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, want 0600", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %v, want only the credentials file (no temp files)", entries)
	}

	second, err := LoadOrCreateRoot(dataDir, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessKeyID != first.AccessKeyID || second.SecretAccessKey != first.SecretAccessKey {
		t.Fatal("second start returned a different key pair")
	}

	// Each data directory gets its own keys.
	other, err := LoadOrCreateRoot(t.TempDir(), testAccount)
	if err != nil {
		t.Fatal(err)
	}
	if other.AccessKeyID == first.AccessKeyID || other.SecretAccessKey == first.SecretAccessKey {
		t.Fatal("two data directories share a key pair")
	}
}

// The file must be readable by the AWS SDKs' shared-credentials loaders.
func TestRootCredentialsFileParsesWithSDKs(t *testing.T) {
	dataDir := t.TempDir()
	root, err := LoadOrCreateRoot(dataDir, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, RootCredentialsFile)

	shared, err := config.LoadSharedConfigProfile(context.Background(), "default", func(o *config.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{path}
		o.ConfigFiles = []string{}
	})
	if err != nil {
		t.Fatalf("aws-sdk-go-v2: %v", err)
	}
	if shared.Credentials.AccessKeyID != root.AccessKeyID || shared.Credentials.SecretAccessKey != root.SecretAccessKey {
		t.Fatal("aws-sdk-go-v2 read different keys")
	}

	needBotocore(t)
	cmd := exec.Command("python3", "-c", `import botocore.session; c = botocore.session.get_session().get_credentials(); print(c.access_key + " " + c.secret_key)`)
	cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+path, "AWS_CONFIG_FILE=/dev/null", "AWS_PROFILE=default",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != root.AccessKeyID+" "+root.SecretAccessKey {
		t.Fatal("botocore read different keys")
	}
}

func TestLoadOrCreateRootTightensPermissionsAndKeepsKeys(t *testing.T) {
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, RootCredentialsFile)
	content := "# hand written\n[other]\naws_access_key_id = AKIAOTHER\n\n[default]\naws_access_key_id=" + testAKID +
		"\n  aws_secret_access_key =  " + testSecret + "  \n; comment\naws_session_token = ignored\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // umask may have narrowed WriteFile's mode
		t.Fatal(err)
	}
	root, err := LoadOrCreateRoot(dataDir, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	if root.AccessKeyID != testAKID || root.SecretAccessKey != testSecret {
		t.Fatalf("read %q", root.AccessKeyID)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v not tightened to 0600", info.Mode().Perm())
	}
	after, _ := os.ReadFile(path)
	if string(after) != content {
		t.Fatal("an existing credentials file was rewritten")
	}
}

func TestLoadOrCreateRootErrors(t *testing.T) {
	for _, acct := range []string{"", "12345", "00000000000a", "0000000000000"} {
		if _, err := LoadOrCreateRoot(t.TempDir(), acct); err == nil {
			t.Errorf("account %q accepted", acct)
		}
	}

	// A file without the default profile is an error, and is left alone.
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, RootCredentialsFile)
	content := "[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = " + testSecret + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateRoot(dataDir, testAccount)
	if err == nil {
		t.Fatal("file without [default] accepted")
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatal("error leaks the secret")
	}
	if after, _ := os.ReadFile(path); string(after) != content {
		t.Fatal("file was rewritten")
	}

	// A directory where the file should be is an error too.
	dataDir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dataDir, RootCredentialsFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateRoot(dataDir, testAccount); err == nil {
		t.Fatal("directory accepted as credentials file")
	}
}
