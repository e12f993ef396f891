// Package kms is kplane's AWS Key Management Service: symmetric
// ENCRYPT_DECRYPT keys, their aliases and tags, and Encrypt, Decrypt and
// GenerateDataKey, on the JSON 1.1 protocol (X-Amz-Target TrentService.*).
//
// Key material never leaves kplane and is never in etcd in the clear: each
// key's 32 random bytes are stored sealed (AES-256-GCM, the key id as
// associated data) under one master key, DATA_DIR/kms-master.key (0600).
// A ciphertext blob names its key and is AES-256-GCM under that key's
// material, authenticated with the key id and the encryption context.
package kms

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/store"
)

// Key states, as KeyMetadata.KeyState says them.
const (
	StateEnabled         = "Enabled"
	StateDisabled        = "Disabled"
	StatePendingDeletion = "PendingDeletion"
)

// Service is kplane's KMS for one account and region.
type Service struct {
	st        *store.Store
	master    cipher.AEAD
	accountID string
	region    string
	now       func() time.Time
}

// New opens KMS over st, loading or making DATA_DIR/kms-master.key.
func New(st *store.Store, dataDir, accountID, region string) (*Service, error) {
	if st == nil || accountID == "" || region == "" {
		return nil, errors.New("kms: store, account and region are required")
	}
	master, err := loadOrCreateMasterKey(dataDir)
	if err != nil {
		return nil, err
	}
	return &Service{st: st, master: newGCM(master), accountID: accountID, region: region, now: time.Now}, nil
}

func (s *Service) keyArn(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.region, s.accountID, id)
}

func (s *Service) aliasArn(name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", s.region, s.accountID, name)
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ref is what a KeyId parameter names.
type ref struct {
	keyID string // set for a key id or key ARN
	alias string // "alias/NAME", set for an alias name or alias ARN
	raw   string
}

// parseRef reads a KeyId parameter: a key id, a key ARN, an alias name or an
// alias ARN (aliases only where allowAlias). An ARN of another account or
// region names nothing here: NotFoundException, as on AWS.
func (s *Service) parseRef(raw string, allowAlias bool) (ref, *awsjson.Error) {
	r := ref{raw: raw}
	switch {
	case strings.HasPrefix(raw, "arn:"):
		parts := strings.SplitN(raw, ":", 6)
		if len(parts) != 6 || parts[1] == "" || parts[2] != "kms" || parts[5] == "" {
			return r, awsjson.Errorf("InvalidArnException", "Invalid arn %s", raw)
		}
		if parts[3] != s.region || parts[4] != s.accountID {
			return r, s.notFound(r)
		}
		switch {
		case strings.HasPrefix(parts[5], "key/"):
			r.keyID = strings.TrimPrefix(parts[5], "key/")
		case strings.HasPrefix(parts[5], "alias/") && allowAlias:
			r.alias = parts[5]
		case strings.HasPrefix(parts[5], "alias/"):
			return r, awsjson.Errorf("NotFoundException", "Invalid keyId %s", raw)
		default:
			return r, awsjson.Errorf("InvalidArnException", "Invalid arn %s", raw)
		}
	case strings.HasPrefix(raw, "alias/"):
		if !allowAlias {
			return r, awsjson.Errorf("NotFoundException", "Invalid keyId %s", raw)
		}
		r.alias = raw
	default:
		r.keyID = raw
	}
	if r.keyID != "" && !keyIDPattern.MatchString(r.keyID) {
		return r, awsjson.Errorf("NotFoundException", "Invalid keyId %s", raw)
	}
	return r, nil
}

func (s *Service) notFound(r ref) *awsjson.Error {
	if r.alias != "" {
		return awsjson.Errorf("NotFoundException", "Alias %s is not found.", s.aliasArn(r.alias))
	}
	if r.keyID != "" {
		return awsjson.Errorf("NotFoundException", "Key '%s' does not exist", s.keyArn(r.keyID))
	}
	return awsjson.Errorf("NotFoundException", "Key '%s' does not exist", r.raw)
}

func internal(err error) *awsjson.Error {
	return &awsjson.Error{Type: "KMSInternalException", Status: http.StatusInternalServerError, Message: "KMS internal failure: " + err.Error()}
}

// resolve finds the key a KeyId parameter names.
func (s *Service) resolve(ctx context.Context, raw string, allowAlias bool) (*store.KMSKey, *awsjson.Error) {
	r, e := s.parseRef(raw, allowAlias)
	if e != nil {
		return nil, e
	}
	id := r.keyID
	if r.alias != "" {
		a, err := s.st.GetKMSAlias(ctx, r.alias)
		if errors.Is(err, store.ErrNotFound) {
			return nil, s.notFound(r)
		} else if err != nil {
			return nil, internal(err)
		}
		id = a.TargetKeyID
	}
	k, err := s.load(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.notFound(r)
	} else if err != nil {
		return nil, internal(err)
	}
	return k, nil
}

// load reads key id; a key whose deletion date has passed is deleted now
// (with its aliases) and is not found, as AWS deletes it at that date.
func (s *Service) load(ctx context.Context, id string) (*store.KMSKey, error) {
	k, err := s.st.GetKMSKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.expired(k) {
		if err := s.st.DeleteKMSKey(ctx, id, k.Revision); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		return nil, store.ErrNotFound
	}
	return k, nil
}

func (s *Service) expired(k *store.KMSKey) bool {
	return k.KeyState == StatePendingDeletion && k.DeletionDate != nil && !s.now().Before(*k.DeletionDate)
}

// usable says why key k cannot encrypt or decrypt, or nil.
func (s *Service) usable(k *store.KMSKey) *awsjson.Error {
	switch k.KeyState {
	case StateEnabled:
		return nil
	case StateDisabled:
		return awsjson.Errorf("DisabledException", "%s is disabled.", k.Arn)
	case StatePendingDeletion:
		return awsjson.Errorf("KMSInvalidStateException", "%s is pending deletion.", k.Arn)
	}
	return awsjson.Errorf("KMSInvalidStateException", "%s is %s.", k.Arn, k.KeyState)
}

func (s *Service) material(k *store.KMSKey) ([]byte, *awsjson.Error) {
	m, err := unwrap(s.master, k.KeyID, k.Wrapped)
	if err != nil {
		return nil, internal(err)
	}
	return m, nil
}

func newKeyMaterial() []byte {
	m := make([]byte, keyBytes)
	if _, err := rand.Read(m); err != nil {
		panic("kms: crypto/rand failed: " + err.Error())
	}
	return m
}

func newKeyID() string { return uuid.NewString() }

// KeyStatus says whether keyRef (an id, ARN, alias name or alias ARN) names a
// key of this account and region that can encrypt: nil if it is an enabled
// symmetric key, else an error whose Type is KMS's (NotFoundException,
// DisabledException, KMSInvalidStateException, InvalidArnException) and
// whose message says why. It also returns the key's ARN when found.
func (s *Service) KeyStatus(ctx context.Context, keyRef string) (string, *awsjson.Error) {
	k, e := s.resolve(ctx, keyRef, true)
	if e != nil {
		return "", e
	}
	return k.Arn, s.usable(k)
}

// Encrypt seals plaintext under the key keyRef names, for kplane's own use
// (a cluster's KMS v2 plugin); it checks the key as the Encrypt call does.
func (s *Service) Encrypt(ctx context.Context, keyRef string, plaintext []byte, encCtx map[string]string) ([]byte, *awsjson.Error) {
	k, e := s.resolve(ctx, keyRef, true)
	if e != nil {
		return nil, e
	}
	if e := s.usable(k); e != nil {
		return nil, e
	}
	m, e := s.material(k)
	if e != nil {
		return nil, e
	}
	return sealBlob(m, k.KeyID, plaintext, encCtx), nil
}

// Decrypt opens a blob that Encrypt or the API made, checking its key's state.
func (s *Service) Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, *store.KMSKey, *awsjson.Error) {
	id, err := blobKeyID(blob)
	if err != nil {
		return nil, nil, invalidCiphertext()
	}
	k, lerr := s.load(ctx, id)
	if errors.Is(lerr, store.ErrNotFound) {
		return nil, nil, invalidCiphertext()
	} else if lerr != nil {
		return nil, nil, internal(lerr)
	}
	if e := s.usable(k); e != nil {
		return nil, nil, e
	}
	m, e := s.material(k)
	if e != nil {
		return nil, nil, e
	}
	p, err := openBlob(m, k.KeyID, blob, encCtx)
	if err != nil {
		return nil, nil, invalidCiphertext()
	}
	return p, k, nil
}

func invalidCiphertext() *awsjson.Error {
	return awsjson.Errorf("InvalidCiphertextException",
		"The ciphertext is invalid, was not made by this KMS, or does not match its encryption context.")
}

// KeyUsable is KeyStatus for EKS's encryptionConfig check: "" when keyRef
// is an enabled key, else why not; err only for a failure of kplane's.
func (s *Service) KeyUsable(ctx context.Context, keyRef string) (string, error) {
	_, e := s.KeyStatus(ctx, keyRef)
	switch {
	case e == nil:
		return "", nil
	case e.Type == "KMSInternalException":
		return "", e
	}
	return e.Type + ": " + e.Message, nil
}
