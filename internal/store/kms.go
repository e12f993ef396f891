package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KMS's records. Key material is stored only wrapped (AES-GCM under a key
// file in the data directory, see package kms): etcd never holds it in the
// clear.
//
//	/kplane/kms/keys/KEYID        KMSKey
//	/kplane/kms/aliases/alias/NAME  KMSAlias
const (
	kmsPrefix        = prefix + "kms/"
	kmsKeysPrefix    = kmsPrefix + "keys/"
	kmsAliasesPrefix = kmsPrefix + "aliases/"
)

func kmsKeyKey(id string) string     { return kmsKeysPrefix + id }
func kmsAliasKey(name string) string { return kmsAliasesPrefix + name }

// KMSKey is one KMS key's metadata and its wrapped material.
type KMSKey struct {
	KeyID        string            `json:"keyId"`
	Arn          string            `json:"arn"`
	AccountID    string            `json:"accountId"`
	Description  string            `json:"description"`
	KeyState     string            `json:"keyState"` // Enabled, Disabled, PendingDeletion
	CreationDate time.Time         `json:"creationDate"`
	DeletionDate *time.Time        `json:"deletionDate,omitempty"`
	PendingDays  int               `json:"pendingDays,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Policy       string            `json:"policy,omitempty"`
	// RotationDays is the automatic rotation period, 0 when rotation is off
	// (kplane records it; the material itself is not rotated).
	RotationDays int `json:"rotationDays,omitempty"`
	// Wrapped is the 32-byte key material sealed under the master key with
	// the key id as associated data.
	Wrapped []byte `json:"wrapped"`
	// Revision is etcd's ModRevision when read (not stored).
	Revision int64 `json:"-"`
}

// KMSAlias is an alias of a key.
type KMSAlias struct {
	Name            string    `json:"name"` // "alias/..."
	TargetKeyID     string    `json:"targetKeyId"`
	CreationDate    time.Time `json:"creationDate"`
	LastUpdatedDate time.Time `json:"lastUpdatedDate"`
}

// CreateKMSKey stores a new key (ids are random: a clash is ErrExists).
func (s *Store) CreateKMSKey(ctx context.Context, k *KMSKey) error {
	return s.createIfAbsent(ctx, kmsKeyKey(k.KeyID), k)
}

// GetKMSKey returns key id, or ErrNotFound.
func (s *Store) GetKMSKey(ctx context.Context, id string) (*KMSKey, error) {
	resp, err := s.client.Get(ctx, kmsKeyKey(id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var k KMSKey
	if err := json.Unmarshal(resp.Kvs[0].Value, &k); err != nil {
		return nil, fmt.Errorf("store: kms key %q: %w", id, err)
	}
	k.Revision = resp.Kvs[0].ModRevision
	return &k, nil
}

// ListKMSKeys returns every key, ordered by id.
func (s *Store) ListKMSKeys(ctx context.Context) ([]*KMSKey, error) {
	return listJSON[KMSKey](ctx, s, kmsKeysPrefix)
}

// UpdateKMSKey applies mutate to key id and writes it back unless it changed
// meanwhile (then it tries again). ErrNotFound if there is no such key.
func (s *Store) UpdateKMSKey(ctx context.Context, id string, mutate func(*KMSKey) error) (*KMSKey, error) {
	key := kmsKeyKey(id)
	for attempt := 0; attempt < 100; attempt++ {
		k, err := s.GetKMSKey(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := mutate(k); err != nil {
			return nil, err
		}
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", k.Revision)).
			Then(putJSON(key, k)).Commit()
		if err != nil {
			return nil, err
		}
		if txn.Succeeded {
			k.Revision = txn.Header.Revision
			return k, nil
		}
	}
	return nil, ErrConflict
}

// DeleteKMSKey removes key id and every alias that names it, in one
// transaction, if the key is still at revision rev.
func (s *Store) DeleteKMSKey(ctx context.Context, id string, rev int64) error {
	aliases, err := s.ListKMSAliases(ctx)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpDelete(kmsKeyKey(id))}
	for _, a := range aliases {
		if a.TargetKeyID == id {
			ops = append(ops, clientv3.OpDelete(kmsAliasKey(a.Name)))
		}
	}
	txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(kmsKeyKey(id)), "=", rev)).Then(ops...).Commit()
	if err != nil {
		return err
	}
	if !txn.Succeeded {
		return ErrConflict
	}
	return nil
}

// CreateKMSAlias stores a new alias of an existing key: ErrExists if the
// alias is taken, ErrNotFound if the key is gone.
func (s *Store) CreateKMSAlias(ctx context.Context, a *KMSAlias) error {
	key := kmsKeyKey(a.TargetKeyID)
	txn, err := s.client.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(key), ">", 0),
		clientv3.Compare(clientv3.CreateRevision(kmsAliasKey(a.Name)), "=", 0),
	).Then(putJSON(kmsAliasKey(a.Name), a)).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
	return guardedWrite(txn, err, ErrExists)
}

// GetKMSAlias returns the alias "alias/NAME", or ErrNotFound.
func (s *Store) GetKMSAlias(ctx context.Context, name string) (*KMSAlias, error) {
	resp, err := s.client.Get(ctx, kmsAliasKey(name))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var a KMSAlias
	if err := json.Unmarshal(resp.Kvs[0].Value, &a); err != nil {
		return nil, fmt.Errorf("store: kms alias %q: %w", name, err)
	}
	return &a, nil
}

// ListKMSAliases returns every alias, ordered by name.
func (s *Store) ListKMSAliases(ctx context.Context) ([]*KMSAlias, error) {
	return listJSON[KMSAlias](ctx, s, kmsAliasesPrefix)
}

// DeleteKMSAlias removes an alias, or says ErrNotFound.
func (s *Store) DeleteKMSAlias(ctx context.Context, name string) error {
	resp, err := s.client.Delete(ctx, kmsAliasKey(name))
	if err != nil {
		return err
	}
	if resp.Deleted == 0 {
		return ErrNotFound
	}
	return nil
}
