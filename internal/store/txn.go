package store

import clientv3 "go.etcd.io/etcd/client/v3"

// guardedWrite is the outcome of a write transaction guarded on a key it
// needs (a parent, or the entity itself) and on one more condition, whose
// Else branch counts that key first: nil when it committed, ErrNotFound
// when that key is gone, else refused (the other condition failed, e.g.
// ErrExists or ErrInUse).
func guardedWrite(txn *clientv3.TxnResponse, err, refused error) error {
	switch {
	case err != nil:
		return err
	case txn.Succeeded:
		return nil
	case txn.Responses[0].GetResponseRange().Count == 0:
		return ErrNotFound
	}
	return refused
}
