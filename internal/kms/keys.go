package kms

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/paging"
	"github.com/kplane/kplane/internal/store"
)

const (
	symmetricDefault = "SYMMETRIC_DEFAULT"
	encryptDecrypt   = "ENCRYPT_DECRYPT"
	maxTagsPerKey    = 50
)

// Tag is KMS's tag shape.
type Tag struct {
	TagKey   *string `json:"TagKey"`
	TagValue *string `json:"TagValue"`
}

// KeyMetadata is KMS's KeyMetadata shape (the members a symmetric key has).
type KeyMetadata struct {
	AWSAccountId                string         `json:"AWSAccountId"`
	KeyId                       string         `json:"KeyId"`
	Arn                         string         `json:"Arn"`
	CreationDate                awsjson.Epoch  `json:"CreationDate"`
	Enabled                     bool           `json:"Enabled"`
	Description                 string         `json:"Description"`
	KeyUsage                    string         `json:"KeyUsage"`
	KeyState                    string         `json:"KeyState"`
	DeletionDate                *awsjson.Epoch `json:"DeletionDate,omitempty"`
	Origin                      string         `json:"Origin"`
	KeyManager                  string         `json:"KeyManager"`
	CustomerMasterKeySpec       string         `json:"CustomerMasterKeySpec"`
	KeySpec                     string         `json:"KeySpec"`
	EncryptionAlgorithms        []string       `json:"EncryptionAlgorithms"`
	MultiRegion                 bool           `json:"MultiRegion"`
	PendingDeletionWindowInDays *int           `json:"PendingDeletionWindowInDays,omitempty"`
}

func metadata(k *store.KMSKey) *KeyMetadata {
	m := &KeyMetadata{
		AWSAccountId: k.AccountID, KeyId: k.KeyID, Arn: k.Arn, CreationDate: awsjson.Epoch(k.CreationDate),
		Enabled: k.KeyState == StateEnabled, Description: k.Description, KeyUsage: encryptDecrypt,
		KeyState: k.KeyState, Origin: "AWS_KMS", KeyManager: "CUSTOMER",
		CustomerMasterKeySpec: symmetricDefault, KeySpec: symmetricDefault,
		EncryptionAlgorithms: []string{symmetricDefault},
	}
	if k.KeyState == StatePendingDeletion && k.DeletionDate != nil {
		d := awsjson.Epoch(*k.DeletionDate)
		m.DeletionDate = &d
		days := k.PendingDays
		m.PendingDeletionWindowInDays = &days
	}
	return m
}

type keyMetadataOutput struct {
	KeyMetadata *KeyMetadata `json:"KeyMetadata"`
}

func (s *Service) createKey(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		Description           *string
		KeyUsage              *string
		KeySpec               *string
		CustomerMasterKeySpec *string
		Origin                *string
		Policy                *string
		Tags                  []Tag
		MultiRegion           *bool
		CustomKeyStoreId      *string
		XksKeyId              *string
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	if in.Description != nil {
		v.Length("description", *in.Description, 0, 8192)
	}
	if in.Policy != nil {
		v.Length("policy", *in.Policy, 1, 32768)
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	if in.Policy != nil {
		if e := checkPolicyDocument(*in.Policy); e != nil {
			return nil, e
		}
	}
	unsupported := func(what string) (any, *awsjson.Error) {
		return nil, awsjson.Errorf("UnsupportedOperationException", "kplane's KMS makes only symmetric ENCRYPT_DECRYPT keys of origin AWS_KMS in one region: %s is not supported", what)
	}
	switch {
	case in.KeyUsage != nil && *in.KeyUsage != encryptDecrypt:
		return unsupported("KeyUsage " + *in.KeyUsage)
	case in.KeySpec != nil && *in.KeySpec != symmetricDefault:
		return unsupported("KeySpec " + *in.KeySpec)
	case in.CustomerMasterKeySpec != nil && *in.CustomerMasterKeySpec != symmetricDefault:
		return unsupported("CustomerMasterKeySpec " + *in.CustomerMasterKeySpec)
	case in.Origin != nil && *in.Origin != "AWS_KMS":
		return unsupported("Origin " + *in.Origin)
	case in.MultiRegion != nil && *in.MultiRegion:
		return unsupported("MultiRegion")
	case in.CustomKeyStoreId != nil || in.XksKeyId != nil:
		return unsupported("a custom key store")
	}
	tags, e := applyTags(nil, in.Tags)
	if e != nil {
		return nil, e
	}
	id := newKeyID()
	k := &store.KMSKey{
		KeyID: id, Arn: s.keyArn(id), AccountID: s.accountID, KeyState: StateEnabled,
		CreationDate: s.now().UTC().Truncate(time.Millisecond), Tags: tags,
		Wrapped: wrap(s.master, id, newKeyMaterial()),
	}
	if in.Description != nil {
		k.Description = *in.Description
	}
	if in.Policy != nil {
		k.Policy = *in.Policy
	}
	if err := s.st.CreateKMSKey(c.R.Context(), k); err != nil {
		return nil, internal(err)
	}
	return keyMetadataOutput{metadata(k)}, nil
}

type keyIDInput struct {
	KeyId *string
}

func (s *Service) decodeKeyID(c *awsjson.Call, in any, id **string) *awsjson.Error {
	if e := c.Decode(in); e != nil {
		return e
	}
	var v awsjson.Validation
	v.Required("keyId", *id != nil)
	if *id != nil {
		v.Length("keyId", **id, 1, 2048)
	}
	return v.Err()
}

func (s *Service) describeKey(c *awsjson.Call) (any, *awsjson.Error) {
	var in keyIDInput
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	k, e := s.resolve(c.R.Context(), *in.KeyId, true)
	if e != nil {
		return nil, e
	}
	return keyMetadataOutput{metadata(k)}, nil
}

// page cuts items after marker, at most limit long, in marker order (see
// internal/paging: a marker whose item is gone still resumes in order).
// KMS's marker is the page's last item's marker itself.
func page[T any](items []T, markerOf func(T) string, marker *string, limit *int, def int) ([]T, *string, *awsjson.Error) {
	var v awsjson.Validation
	v.Range("limit", limit, 1, 1000)
	if marker != nil {
		v.Length("marker", *marker, 1, 1024)
	}
	if e := v.Err(); e != nil {
		return nil, nil, e
	}
	n := def
	if limit != nil {
		n = *limit
	}
	after := ""
	if marker != nil {
		if !validMarker(*marker) {
			return nil, nil, awsjson.Errorf("InvalidMarkerException", "Invalid marker %s", *marker)
		}
		after = *marker
	}
	got, resume := paging.Page(items, markerOf, after, n)
	if resume == "" {
		return got, nil, nil
	}
	return got, &resume, nil
}

func validMarker(m string) bool { return !strings.ContainsAny(m, "\x00\n") }

type listKeysOutput struct {
	Keys       []keyListEntry `json:"Keys"`
	NextMarker *string        `json:"NextMarker,omitempty"`
	Truncated  bool           `json:"Truncated"`
}

type keyListEntry struct {
	KeyId  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

func (s *Service) listKeys(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		Limit  *int
		Marker *string
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	keys, err := s.st.ListKMSKeys(c.R.Context())
	if err != nil {
		return nil, internal(err)
	}
	live := keys[:0]
	for _, k := range keys {
		if !s.expired(k) {
			live = append(live, k)
		}
	}
	got, next, e := page(live, func(k *store.KMSKey) string { return k.KeyID }, in.Marker, in.Limit, 100)
	if e != nil {
		return nil, e
	}
	out := listKeysOutput{Keys: []keyListEntry{}, NextMarker: next, Truncated: next != nil}
	for _, k := range got {
		out.Keys = append(out.Keys, keyListEntry{KeyId: k.KeyID, KeyArn: k.Arn})
	}
	return out, nil
}

// changeKey resolves a key id or ARN (no alias) and applies change to it.
func (s *Service) changeKey(c *awsjson.Call, raw string, change func(*store.KMSKey) *awsjson.Error) (*store.KMSKey, *awsjson.Error) {
	k, e := s.resolve(c.R.Context(), raw, false)
	if e != nil {
		return nil, e
	}
	var refused *awsjson.Error
	got, err := s.st.UpdateKMSKey(c.R.Context(), k.KeyID, func(k *store.KMSKey) error {
		if s.expired(k) {
			return store.ErrNotFound
		}
		if refused = change(k); refused != nil {
			return errRefused
		}
		return nil
	})
	switch {
	case refused != nil:
		return nil, refused
	case errors.Is(err, store.ErrNotFound):
		return nil, s.notFound(ref{keyID: k.KeyID})
	case err != nil:
		return nil, internal(err)
	}
	return got, nil
}

var errRefused = errors.New("kms: refused")

func pendingDeletion(k *store.KMSKey) *awsjson.Error {
	return awsjson.Errorf("KMSInvalidStateException", "%s is pending deletion.", k.Arn)
}

func (s *Service) enableKey(c *awsjson.Call) (any, *awsjson.Error) {
	return s.setKeyState(c, StateEnabled)
}

func (s *Service) disableKey(c *awsjson.Call) (any, *awsjson.Error) {
	return s.setKeyState(c, StateDisabled)
}

// setKeyState is EnableKey and DisableKey: a key pending deletion can be
// neither (KMS: CancelKeyDeletion first).
func (s *Service) setKeyState(c *awsjson.Call, state string) (any, *awsjson.Error) {
	return s.changeKeyOnly(c, func(k *store.KMSKey) *awsjson.Error {
		if k.KeyState == StatePendingDeletion {
			return pendingDeletion(k)
		}
		k.KeyState = state
		return nil
	})
}

// changeKeyOnly is a call whose one parameter is KeyId (id or ARN) and whose
// answer is empty: change applied to that key.
func (s *Service) changeKeyOnly(c *awsjson.Call, change func(*store.KMSKey) *awsjson.Error) (any, *awsjson.Error) {
	var in keyIDInput
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	_, e := s.changeKey(c, *in.KeyId, change)
	return nil, e
}

// decodeKeyDays decodes a call of KeyId and an optional number of days
// (*days, checked as name within lo..hi) and returns the days, def when absent.
func (s *Service) decodeKeyDays(c *awsjson.Call, in any, keyID **string, days **int, name string, lo, hi, def int) (int, *awsjson.Error) {
	if e := s.decodeKeyID(c, in, keyID); e != nil {
		return 0, e
	}
	var v awsjson.Validation
	v.Range(name, *days, lo, hi)
	if e := v.Err(); e != nil {
		return 0, e
	}
	if *days == nil {
		return def, nil
	}
	return **days, nil
}

func (s *Service) scheduleKeyDeletion(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId               *string
		PendingWindowInDays *int
	}
	days, e := s.decodeKeyDays(c, &in, &in.KeyId, &in.PendingWindowInDays, "pendingWindowInDays", 7, 30, 30)
	if e != nil {
		return nil, e
	}
	k, e := s.changeKey(c, *in.KeyId, func(k *store.KMSKey) *awsjson.Error {
		if k.KeyState == StatePendingDeletion {
			return pendingDeletion(k)
		}
		at := s.now().UTC().Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Millisecond)
		k.KeyState, k.DeletionDate, k.PendingDays = StatePendingDeletion, &at, days
		return nil
	})
	if e != nil {
		return nil, e
	}
	return struct {
		KeyId               string
		DeletionDate        awsjson.Epoch
		KeyState            string
		PendingWindowInDays int
	}{k.Arn, awsjson.Epoch(*k.DeletionDate), k.KeyState, days}, nil
}

func (s *Service) cancelKeyDeletion(c *awsjson.Call) (any, *awsjson.Error) {
	var in keyIDInput
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	// As on AWS, a key whose deletion is cancelled is Disabled.
	k, e := s.changeKey(c, *in.KeyId, func(k *store.KMSKey) *awsjson.Error {
		if k.KeyState != StatePendingDeletion {
			return awsjson.Errorf("KMSInvalidStateException", "%s is not pending deletion.", k.Arn)
		}
		k.KeyState, k.DeletionDate, k.PendingDays = StateDisabled, nil, 0
		return nil
	})
	if e != nil {
		return nil, e
	}
	return struct{ KeyId string }{k.Arn}, nil
}

// applyTags adds tags to have (a new map), with KMS's checks.
func applyTags(have map[string]string, tags []Tag) (map[string]string, *awsjson.Error) {
	out := map[string]string{}
	for k, v := range have {
		out[k] = v
	}
	var v awsjson.Validation
	for i, t := range tags {
		path := fmt.Sprintf("tags.%d.member", i+1)
		v.Required(path+".tagKey", t.TagKey != nil)
		v.Required(path+".tagValue", t.TagValue != nil)
		if t.TagKey == nil || t.TagValue == nil {
			continue
		}
		v.Length(path+".tagKey", *t.TagKey, 1, 128)
		v.Length(path+".tagValue", *t.TagValue, 0, 256)
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(*t.TagKey), "aws:") {
			return nil, awsjson.Errorf("TagException", "Tags beginning with aws: are reserved")
		}
		out[*t.TagKey] = *t.TagValue
	}
	if len(out) > maxTagsPerKey {
		return nil, awsjson.Errorf("LimitExceededException", "A key can have at most %d tags", maxTagsPerKey)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (s *Service) tagResource(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId *string
		Tags  []Tag
	}
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("tags", in.Tags != nil)
	if e := v.Err(); e != nil {
		return nil, e
	}
	_, e := s.changeKey(c, *in.KeyId, func(k *store.KMSKey) *awsjson.Error {
		if k.KeyState == StatePendingDeletion {
			return pendingDeletion(k)
		}
		tags, e := applyTags(k.Tags, in.Tags)
		k.Tags = tags
		return e
	})
	return nil, e
}

func (s *Service) untagResource(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId   *string
		TagKeys []string
	}
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("tagKeys", in.TagKeys != nil)
	for i, key := range in.TagKeys {
		v.Length(fmt.Sprintf("tagKeys.%d.member", i+1), key, 1, 128)
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	_, e := s.changeKey(c, *in.KeyId, func(k *store.KMSKey) *awsjson.Error {
		if k.KeyState == StatePendingDeletion {
			return pendingDeletion(k)
		}
		for _, key := range in.TagKeys {
			delete(k.Tags, key)
		}
		if len(k.Tags) == 0 {
			k.Tags = nil
		}
		return nil
	})
	return nil, e
}

func (s *Service) listResourceTags(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId  *string
		Limit  *int
		Marker *string
	}
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	k, e := s.resolve(c.R.Context(), *in.KeyId, false)
	if e != nil {
		return nil, e
	}
	keys := make([]string, 0, len(k.Tags))
	for key := range k.Tags {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	got, next, e := page(keys, func(s string) string { return s }, in.Marker, in.Limit, 50)
	if e != nil {
		return nil, e
	}
	tags := []Tag{}
	for _, key := range got {
		key, val := key, k.Tags[key]
		tags = append(tags, Tag{TagKey: &key, TagValue: &val})
	}
	return struct {
		Tags       []Tag
		NextMarker *string `json:",omitempty"`
		Truncated  bool
	}{tags, next, next != nil}, nil
}
