package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/kplane/kplane/internal/fileutil"
)

const (
	// RootCredentialsFile is the name of the root key file inside the data directory.
	RootCredentialsFile = "credentials"

	rootProfile          = "default"
	keyAccessKeyID       = "aws_access_key_id"
	keySecretAccessKey   = "aws_secret_access_key"
	dataDirMode          = 0o700
	accessKeyIDPrefix    = "AKIA" // what AWS uses for long-term IAM user/root keys
	accessKeyIDRandom    = 10     // bytes; base32 turns 10 bytes into exactly 16 characters
	secretAccessKeyChars = 40
	secretAlphabet       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// LoadOrCreateRoot reads DATA_DIR/credentials (AWS shared-credentials format, profile [default])
// or, at first start, creates it with a fresh key pair (AKID "AKIA"+16 uppercase base32 chars,
// 40-char secret from crypto/rand), mode 0600, writing atomically (temp file + rename, 0600).
// Returns the root Credential with Arn arn:aws:iam::ACCOUNT:root, UserID = ACCOUNT.
//
// An existing file is never rewritten, only its permissions tightened to 0600. Errors
// never contain key material.
func LoadOrCreateRoot(dataDir, accountID string) (*Credential, error) {
	if !ValidAccountID(accountID) {
		return nil, fmt.Errorf("auth: account id %q is not 12 digits", accountID)
	}
	path := filepath.Join(dataDir, RootCredentialsFile)

	akid, secret, err := readRootFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		akid, secret, err = createRootFile(dataDir, path)
	}
	if err != nil {
		return nil, err
	}
	return &Credential{
		AccessKeyID:     akid,
		SecretAccessKey: secret,
		AccountID:       accountID,
		Arn:             "arn:aws:iam::" + accountID + ":root",
		UserID:          accountID,
	}, nil
}

// ValidAccountID reports whether s is an AWS account id: 12 digits.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// readRootFile reads the key pair, tightening the file's mode first so the secret is
// never readable by others for longer than it already was.
func readRootFile(path string) (akid, secret string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	if !info.Mode().IsRegular() {
		return "", "", fmt.Errorf("auth: %s is not a regular file", path)
	}
	if info.Mode().Perm() != fileutil.SecretMode {
		if err := os.Chmod(path, fileutil.SecretMode); err != nil {
			return "", "", fmt.Errorf("auth: tighten permissions of %s: %w", path, err)
		}
	}
	return ReadCredentialsFile(path)
}

// ReadCredentialsFile reads the root key pair from a credentials file kplane
// wrote (its [default] profile), for tools run beside kplane.
func ReadCredentialsFile(path string) (akid, secret string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	akid, secret = parseSharedCredentials(data, rootProfile)
	if akid == "" || secret == "" {
		return "", "", fmt.Errorf("auth: %s has no %s and %s in profile [%s]", path, keyAccessKeyID, keySecretAccessKey, rootProfile)
	}
	return akid, secret, nil
}

// parseSharedCredentials reads one profile of an AWS shared-credentials (INI) file:
// "[profile]" headers, "key = value" lines, "#" and ";" comment lines.
func parseSharedCredentials(data []byte, profile string) (akid, secret string) {
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			name := strings.TrimSpace(strings.TrimSuffix(line[1:], "]"))
			in = name == profile
			continue
		case !in:
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case keyAccessKeyID:
			akid = strings.TrimSpace(value)
		case keySecretAccessKey:
			secret = strings.TrimSpace(value)
		}
	}
	return akid, secret
}

func createRootFile(dataDir, path string) (akid, secret string, err error) {
	akid, secret, err = newKeyPair()
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dataDir, dataDirMode); err != nil {
		return "", "", err
	}
	content := fmt.Sprintf("# kplane root credentials. Keep secret.\n"+
		"# Use with: AWS_SHARED_CREDENTIALS_FILE=%s aws --endpoint-url <kplane URL> ...\n"+
		"[%s]\n%s = %s\n%s = %s\n",
		path, rootProfile, keyAccessKeyID, akid, keySecretAccessKey, secret)
	if err := fileutil.WriteFile(path, []byte(content), fileutil.SecretMode); err != nil {
		return "", "", err
	}
	return akid, secret, nil
}

// newKeyPair makes an AWS-looking key pair: "AKIA" + 16 base32 characters, and a
// 40-character alphanumeric secret (about 238 bits). The secret avoids the "/" and "+"
// of real AWS secrets so it survives shells, URLs and config files unquoted.
func newKeyPair() (akid, secret string, err error) {
	var raw [accessKeyIDRandom]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", err
	}
	akid = accessKeyIDPrefix + base32.StdEncoding.EncodeToString(raw[:])

	b := make([]byte, secretAccessKeyChars)
	n := big.NewInt(int64(len(secretAlphabet)))
	for i := range b {
		x, err := rand.Int(rand.Reader, n) // uniform, no modulo bias
		if err != nil {
			return "", "", err
		}
		b[i] = secretAlphabet[x.Int64()]
	}
	return akid, string(b), nil
}
