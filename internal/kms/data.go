package kms

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/store"
)

type encryptionContext map[string]string

func checkAlgorithm(alg *string) *awsjson.Error {
	if alg != nil && *alg != symmetricDefault {
		return awsjson.Errorf("InvalidKeyUsageException", "Encryption algorithm %s is not supported by a symmetric key: use SYMMETRIC_DEFAULT", *alg)
	}
	return nil
}

func (s *Service) encrypt(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId               *string
		Plaintext           []byte
		EncryptionContext   encryptionContext
		EncryptionAlgorithm *string
		DryRun              *bool
	}
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("plaintext", in.Plaintext != nil)
	if in.Plaintext != nil && (len(in.Plaintext) < 1 || len(in.Plaintext) > 4096) {
		v.Fail("plaintext", "[SENSITIVE]", "Member must have length between 1 and 4096")
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	if e := checkAlgorithm(in.EncryptionAlgorithm); e != nil {
		return nil, e
	}
	k, m, e := s.keyForUse(c, *in.KeyId, in.DryRun)
	if e != nil {
		return nil, e
	}
	return struct {
		CiphertextBlob      []byte
		KeyId               string
		EncryptionAlgorithm string
	}{sealBlob(m, k.KeyID, in.Plaintext, in.EncryptionContext), k.Arn, symmetricDefault}, nil
}

// keyForUse resolves the key an Encrypt or GenerateDataKey names and unwraps
// its material, after the checks KMS makes in this order: the key exists, is
// enabled, and the call is not a dry run.
func (s *Service) keyForUse(c *awsjson.Call, keyID string, dry *bool) (*store.KMSKey, []byte, *awsjson.Error) {
	k, e := s.resolve(c.R.Context(), keyID, true)
	if e != nil {
		return nil, nil, e
	}
	if e := s.usable(k); e != nil {
		return nil, nil, e
	}
	if dry != nil && *dry {
		return nil, nil, dryRun()
	}
	m, e := s.material(k)
	if e != nil {
		return nil, nil, e
	}
	return k, m, nil
}

func dryRun() *awsjson.Error {
	return awsjson.Errorf("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
}

func (s *Service) decrypt(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		CiphertextBlob      []byte
		EncryptionContext   encryptionContext
		KeyId               *string
		EncryptionAlgorithm *string
		DryRun              *bool
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("ciphertextBlob", in.CiphertextBlob != nil)
	if in.CiphertextBlob != nil && (len(in.CiphertextBlob) < 1 || len(in.CiphertextBlob) > 6144) {
		v.Fail("ciphertextBlob", "[BLOB]", "Member must have length between 1 and 6144")
	}
	if in.KeyId != nil {
		v.Length("keyId", *in.KeyId, 1, 2048)
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	if e := checkAlgorithm(in.EncryptionAlgorithm); e != nil {
		return nil, e
	}
	if in.KeyId != nil {
		want, e := s.resolve(c.R.Context(), *in.KeyId, true)
		if e != nil {
			return nil, e
		}
		if id, err := blobKeyID(in.CiphertextBlob); err == nil && id != want.KeyID {
			return nil, awsjson.Errorf("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	p, k, e := s.Decrypt(c.R.Context(), in.CiphertextBlob, in.EncryptionContext)
	if e != nil {
		return nil, e
	}
	if in.DryRun != nil && *in.DryRun {
		return nil, dryRun()
	}
	return struct {
		KeyId               string
		Plaintext           []byte
		EncryptionAlgorithm string
	}{k.Arn, p, symmetricDefault}, nil
}

func (s *Service) generateDataKey(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId             *string
		EncryptionContext encryptionContext
		NumberOfBytes     *int
		KeySpec           *string
		DryRun            *bool
	}
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Range("numberOfBytes", in.NumberOfBytes, 1, 1024)
	if in.KeySpec != nil && *in.KeySpec != "AES_256" && *in.KeySpec != "AES_128" {
		v.Fail("keySpec", *in.KeySpec, "Member must satisfy enum value set: [AES_256, AES_128]")
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	n := 0
	switch {
	case in.NumberOfBytes != nil && in.KeySpec != nil:
		return nil, awsjson.Errorf("ValidationException", "Please specify either number of bytes or key spec.")
	case in.NumberOfBytes != nil:
		n = *in.NumberOfBytes
	case in.KeySpec != nil && *in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != nil:
		n = 32
	default:
		return nil, awsjson.Errorf("ValidationException", "Please specify either number of bytes or key spec.")
	}
	k, m, e := s.keyForUse(c, *in.KeyId, in.DryRun)
	if e != nil {
		return nil, e
	}
	plain := newKeyMaterial()
	for len(plain) < n {
		plain = append(plain, newKeyMaterial()...)
	}
	plain = plain[:n]
	return struct {
		CiphertextBlob []byte
		Plaintext      []byte
		KeyId          string
	}{sealBlob(m, k.KeyID, plain, in.EncryptionContext), plain, k.Arn}, nil
}

var aliasPattern = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

func (s *Service) checkAliasName(name string) *awsjson.Error {
	var v awsjson.Validation
	v.Length("aliasName", name, 1, 256)
	if e := v.Err(); e != nil {
		return e
	}
	if !aliasPattern.MatchString(name) {
		return awsjson.Errorf("InvalidAliasNameException", "Alias must start with the prefix \"alias/\" and contain only alphanumeric characters, '/', '_' or '-': %s", name)
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return awsjson.Errorf("InvalidAliasNameException", "Alias must not begin with 'alias/aws/': that prefix is reserved for AWS managed keys")
	}
	return nil
}

func (s *Service) createAlias(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		AliasName   *string
		TargetKeyId *string
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("aliasName", in.AliasName != nil)
	v.Required("targetKeyId", in.TargetKeyId != nil)
	if e := v.Err(); e != nil {
		return nil, e
	}
	if e := s.checkAliasName(*in.AliasName); e != nil {
		return nil, e
	}
	k, e := s.resolve(c.R.Context(), *in.TargetKeyId, false)
	if e != nil {
		return nil, e
	}
	if k.KeyState == StatePendingDeletion {
		return nil, pendingDeletion(k)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	err := s.st.CreateKMSAlias(c.R.Context(), &store.KMSAlias{Name: *in.AliasName, TargetKeyID: k.KeyID, CreationDate: now, LastUpdatedDate: now})
	switch {
	case errors.Is(err, store.ErrExists):
		return nil, awsjson.Errorf("AlreadyExistsException", "An alias with the name %s already exists", s.aliasArn(*in.AliasName))
	case errors.Is(err, store.ErrNotFound):
		return nil, s.notFound(ref{keyID: k.KeyID})
	case err != nil:
		return nil, internal(err)
	}
	return nil, nil
}

func (s *Service) deleteAlias(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct{ AliasName *string }
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("aliasName", in.AliasName != nil)
	if e := v.Err(); e != nil {
		return nil, e
	}
	if e := s.checkAliasName(*in.AliasName); e != nil {
		return nil, e
	}
	err := s.st.DeleteKMSAlias(c.R.Context(), *in.AliasName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.notFound(ref{alias: *in.AliasName})
	} else if err != nil {
		return nil, internal(err)
	}
	return nil, nil
}

type aliasListEntry struct {
	AliasName       string
	AliasArn        string
	TargetKeyId     string
	CreationDate    awsjson.Epoch
	LastUpdatedDate awsjson.Epoch
}

func (s *Service) listAliases(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId  *string
		Limit  *int
		Marker *string
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	ctx := c.R.Context()
	only := ""
	if in.KeyId != nil {
		k, e := s.resolve(ctx, *in.KeyId, false)
		if e != nil {
			return nil, e
		}
		only = k.KeyID
	}
	all, err := s.st.ListKMSAliases(ctx)
	if err != nil {
		return nil, internal(err)
	}
	aliases := all[:0]
	for _, a := range all {
		if only == "" || a.TargetKeyID == only {
			aliases = append(aliases, a)
		}
	}
	got, next, e := page(aliases, func(a *store.KMSAlias) string { return a.Name }, in.Marker, in.Limit, 50)
	if e != nil {
		return nil, e
	}
	out := []aliasListEntry{}
	for _, a := range got {
		out = append(out, aliasListEntry{a.Name, s.aliasArn(a.Name), a.TargetKeyID, awsjson.Epoch(a.CreationDate), awsjson.Epoch(a.LastUpdatedDate)})
	}
	return struct {
		Aliases    []aliasListEntry
		NextMarker *string `json:",omitempty"`
		Truncated  bool
	}{out, next, next != nil}, nil
}

// Action is the IAM action of a KMS operation ("kms:Encrypt"), for policy checks.
func Action(op string) string { return fmt.Sprintf("kms:%s", op) }
