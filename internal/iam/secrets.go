package iam

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"path/filepath"

	"github.com/kplane/kplane/internal/fileutil"
)

// MasterKeyFile is the name, inside the data directory, of the key every IAM
// secret is derived from.
const MasterKeyFile = "iam-master.key"

const (
	masterKeySize = 32

	secretChars    = 40  // like AWS secret access keys
	tokenBytes     = 240 // a 320-character session token, about AWS's size
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

	// Labels keep the derivations apart: a value of one kind never equals one of another.
	labelSecret        = "kplane/iam/v1/access-key-secret"
	labelSessionSecret = "kplane/iam/v1/session-secret"
	labelSessionToken  = "kplane/iam/v1/session-token"
)

// loadOrCreateMasterKey reads DATA_DIR/iam-master.key or, at first start,
// makes it: 32 random bytes, mode 0600 (fileutil.LoadOrCreateKey).
func loadOrCreateMasterKey(dataDir string) ([]byte, error) {
	key, err := fileutil.LoadOrCreateKey(filepath.Join(dataDir, MasterKeyFile), masterKeySize)
	if err != nil {
		return nil, fmt.Errorf("iam: %w", err)
	}
	return key, nil
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
