package iam

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MasterKeyFile is the name, inside the data directory, of the key every IAM
// secret is derived from.
const MasterKeyFile = "iam-master.key"

const (
	masterKeySize  = 32
	secretFileMode = 0o600
	dataDirMode    = 0o700

	secretChars    = 40  // like AWS secret access keys
	tokenBytes     = 240 // a 320-character session token, about AWS's size
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

	// Labels keep the derivations apart: a value of one kind never equals one of another.
	labelSecret        = "kplane/iam/v1/access-key-secret"
	labelSessionSecret = "kplane/iam/v1/session-secret"
	labelSessionToken  = "kplane/iam/v1/session-token"
)

// loadOrCreateMasterKey reads DATA_DIR/iam-master.key or, at first start,
// makes it: 32 random bytes, mode 0600, written to a temporary file and linked
// into place, so a crash leaves no partial file and two processes starting at
// once agree on one key. Errors never contain key material.
func loadOrCreateMasterKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err := readMasterKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, dataDirMode); err != nil {
		return nil, err
	}
	fresh := make([]byte, masterKeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if err := createFileOnce(path, fresh); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readMasterKey(path) // another process made it first
		}
		return nil, fmt.Errorf("iam: create %s: %w", path, err)
	}
	return fresh, nil
}

func readMasterKey(path string) ([]byte, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("iam: %s is not a regular file", path)
	}
	if info.Mode().Perm() != secretFileMode {
		if err := os.Chmod(path, secretFileMode); err != nil {
			return nil, fmt.Errorf("iam: tighten permissions of %s: %w", path, err)
		}
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) != masterKeySize {
		return nil, fmt.Errorf("iam: %s holds %d bytes, want %d", path, len(key), masterKeySize)
	}
	return key, nil
}

// createFileOnce writes data to a new file at path, or fails with fs.ErrExist
// if there is one. The content is complete and synced before the name appears.
func createFileOnce(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the link, only the temporary name goes
	if err = f.Chmod(secretFileMode); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err // fs.ErrExist when another process won
	}
	if d, derr := os.Open(dir); derr == nil { // persist the new name; not every platform can
		d.Sync()
		d.Close()
	}
	return nil
}

// deriver turns the master key into per-key secrets: HMAC-SHA256(master,
// label || 0 || id || counter), block after block, is a keyed stream that
// only the holder of the master key can compute, so etcd never needs to hold
// a secret.
type deriver struct{ master []byte }

func (d deriver) stream(label, id string, n int) []byte {
	out := make([]byte, 0, (n+sha256.Size-1)/sha256.Size*sha256.Size)
	mac := hmac.New(sha256.New, d.master)
	var ctr [4]byte
	for i := uint32(0); len(out) < n; i++ {
		mac.Reset()
		mac.Write([]byte(label))
		mac.Write([]byte{0})
		mac.Write([]byte(id))
		binary.BigEndian.PutUint32(ctr[:], i)
		mac.Write(ctr[:])
		out = mac.Sum(out)
	}
	return out[:n]
}

// alphanumeric maps a label's stream onto secretChars characters of
// secretAlphabet without bias: bytes of 248 and up (248 = 4*62) are skipped.
func (d deriver) alphanumeric(label, id string) string {
	const limit = 256 - 256%len(secretAlphabet)
	out := make([]byte, 0, secretChars)
	for n := 2 * secretChars; ; n *= 2 { // 3% of bytes are skipped: 80 is nearly always enough
		for _, b := range d.stream(label, id, n) {
			if int(b) < limit {
				out = append(out, secretAlphabet[int(b)%len(secretAlphabet)])
				if len(out) == secretChars {
					return string(out)
				}
			}
		}
		out = out[:0]
	}
}

// accessKeySecret is the secret access key of an IAM user's access key id.
func (d deriver) accessKeySecret(akid string) string { return d.alphanumeric(labelSecret, akid) }

// sessionSecret is the secret access key of a session's access key id.
func (d deriver) sessionSecret(asid string) string { return d.alphanumeric(labelSessionSecret, asid) }

// sessionToken is the session token of a session's access key id.
func (d deriver) sessionToken(asid string) string {
	return base64.StdEncoding.EncodeToString(d.stream(labelSessionToken, asid, tokenBytes))
}

// newID returns prefix + 16 upper-case base32 characters (80 random bits), the
// shape of AWS access key ids (AKIA, ASIA) and unique ids (AIDA, AROA).
func newID(prefix string) string {
	var raw [10]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("iam: crypto/rand failed: " + err.Error()) // never does on supported platforms
	}
	return prefix + base32.StdEncoding.EncodeToString(raw[:])
}
