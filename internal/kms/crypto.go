package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/kplane/kplane/internal/fileutil"
)

// MasterKeyFile is the name, inside the data directory, of the key that
// wraps every KMS key's material.
const MasterKeyFile = "kms-master.key"

const (
	keyBytes  = 32 // AES-256 for the master key and every KMS key
	nonceSize = 12

	// blobVersion is the first byte of every ciphertext blob kplane makes.
	blobVersion = 1
	// wrapLabel keeps wrapped key material apart from ciphertext blobs: a
	// wrapped key is never accepted as a blob, nor the other way round.
	wrapLabel = "kplane/kms/v1/key-material\x00"
)

// ErrInvalidCiphertext means a blob is malformed, not kplane's, or fails authentication.
var ErrInvalidCiphertext = errors.New("kms: invalid ciphertext")

// loadOrCreateMasterKey reads DATA_DIR/kms-master.key or, at first start,
// makes it: 32 random bytes, mode 0600 (fileutil.LoadOrCreateKey).
func loadOrCreateMasterKey(dataDir string) ([]byte, error) {
	key, err := fileutil.LoadOrCreateKey(filepath.Join(dataDir, MasterKeyFile), keyBytes)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	return key, nil
}

func newGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("kms: " + err.Error()) // only for a wrong key size, which never reaches here
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("kms: " + err.Error())
	}
	return gcm
}

func seal(aead cipher.AEAD, prefix, plaintext, ad []byte) []byte {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		panic("kms: crypto/rand failed: " + err.Error())
	}
	return aead.Seal(append(prefix, nonce...), nonce, plaintext, ad)
}

// wrap seals a key's material under the master key, bound to its id.
func wrap(master cipher.AEAD, keyID string, material []byte) []byte {
	return seal(master, nil, material, []byte(wrapLabel+keyID))
}

// unwrap opens what wrap sealed for keyID.
func unwrap(master cipher.AEAD, keyID string, wrapped []byte) ([]byte, error) {
	if len(wrapped) < nonceSize {
		return nil, errors.New("kms: wrapped key material too short")
	}
	m, err := master.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], []byte(wrapLabel+keyID))
	if err != nil {
		return nil, fmt.Errorf("kms: key %s: material does not open under the master key", keyID)
	}
	return m, nil
}

// A ciphertext blob is
//
//	version(1) | len(keyID)(1) | keyID | nonce(12) | AES-256-GCM(plaintext) + tag(16)
//
// sealed with the key's material and, as associated data, the header
// (version, length, key id) followed by the encryption context in canonical
// form: a blob names its key, and changing the key id or the context makes
// it fail to open.

// blobKeyID returns the key id a blob names.
func blobKeyID(blob []byte) (string, error) {
	if len(blob) < 2 || blob[0] != blobVersion {
		return "", ErrInvalidCiphertext
	}
	n := int(blob[1])
	if n == 0 || len(blob) < 2+n+nonceSize+16 {
		return "", ErrInvalidCiphertext
	}
	return string(blob[2 : 2+n]), nil
}

func blobHeader(keyID string) []byte {
	h := make([]byte, 0, 2+len(keyID)+nonceSize)
	h = append(h, blobVersion, byte(len(keyID)))
	return append(h, keyID...)
}

// sealBlob encrypts plaintext under a key's material.
func sealBlob(material []byte, keyID string, plaintext []byte, ctx map[string]string) []byte {
	header := blobHeader(keyID)
	ad := append(append([]byte(nil), header...), canonicalContext(ctx)...)
	return seal(newGCM(material), header, plaintext, ad)
}

// openBlob decrypts a blob sealed for keyID.
func openBlob(material []byte, keyID string, blob []byte, ctx map[string]string) ([]byte, error) {
	header := blobHeader(keyID)
	if len(blob) < len(header)+nonceSize+16 || string(blob[:len(header)]) != string(header) {
		return nil, ErrInvalidCiphertext
	}
	ad := append(append([]byte(nil), header...), canonicalContext(ctx)...)
	rest := blob[len(header):]
	p, err := newGCM(material).Open(nil, rest[:nonceSize], rest[nonceSize:], ad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	if p == nil {
		p = []byte{}
	}
	return p, nil
}

// canonicalContext is the encryption context sorted by key, each key and
// value length-prefixed, so no two contexts share an encoding.
func canonicalContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []byte
	for _, k := range keys {
		out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(ctx[k])))
		out = append(out, ctx[k]...)
	}
	return out
}
