package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestIAMUsersAndAccessKeys(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	alice := &IAMUser{UserName: "Alice", UserID: "AIDAAAAAAAAAAAAAAAAA", Path: "/", Arn: "arn:aws:iam::000000000000:user/Alice", CreateDate: now}
	if err := s.CreateIAMUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	// Names ignore case.
	if err := s.CreateIAMUser(ctx, &IAMUser{UserName: "ALICE"}); !errors.Is(err, ErrExists) {
		t.Fatalf("same name in other case: %v", err)
	}
	got, err := s.GetIAMUser(ctx, "alice")
	if err != nil || got.UserName != "Alice" || got.Arn != alice.Arn || !got.CreateDate.Equal(now) {
		t.Fatalf("GetIAMUser: %+v %v", got, err)
	}
	if _, err := s.GetIAMUser(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
	if err := s.CreateIAMUser(ctx, &IAMUser{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	users, err := s.ListIAMUsers(ctx)
	if err != nil || len(users) != 2 || users[0].UserName != "Alice" || users[1].UserName != "bob" {
		t.Fatalf("ListIAMUsers: %v %v", users, err)
	}

	x, err := s.OpenIAMIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()

	key := func(id string, at time.Time) *IAMAccessKey {
		return &IAMAccessKey{AccessKeyID: id, UserName: "Alice", UserID: alice.UserID, UserArn: alice.Arn, Status: "Active", CreateDate: at}
	}
	rev, err := s.CreateIAMAccessKey(ctx, key("AKIA1", now.Add(time.Second)), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.WaitFor(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if k := x.AccessKey("AKIA1"); k == nil || k.UserArn != alice.Arn {
		t.Fatalf("index: %+v", k)
	}
	if _, err := s.CreateIAMAccessKey(ctx, key("AKIA1", now), 2); !errors.Is(err, ErrExists) {
		t.Fatalf("taken id: %v", err)
	}
	if _, err := s.CreateIAMAccessKey(ctx, key("AKIA0", now), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIAMAccessKey(ctx, key("AKIA2", now), 2); !errors.Is(err, ErrQuota) {
		t.Fatalf("third key: %v", err)
	}
	if _, err := s.CreateIAMAccessKey(ctx, &IAMAccessKey{AccessKeyID: "AKIA3", UserName: "carol"}, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("key of a missing user: %v", err)
	}
	keys, err := s.ListIAMAccessKeys(ctx, "ALICE")
	if err != nil || len(keys) != 2 || keys[0].AccessKeyID != "AKIA0" || keys[1].AccessKeyID != "AKIA1" {
		t.Fatalf("ListIAMAccessKeys (oldest first): %+v %v", keys, err)
	}
	if err := s.DeleteIAMUser(ctx, "alice"); !errors.Is(err, ErrInUse) {
		t.Fatalf("delete a user with keys: %v", err)
	}
	if _, err := s.DeleteIAMAccessKey(ctx, "bob", "AKIA1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("someone else's key: %v", err)
	}
	for _, id := range []string{"AKIA0", "AKIA1"} {
		rev, err := s.DeleteIAMAccessKey(ctx, "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.WaitFor(ctx, rev); err != nil {
			t.Fatal(err)
		}
		if x.AccessKey(id) != nil {
			t.Fatalf("%s still indexed after delete", id)
		}
	}
	if err := s.DeleteIAMUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIAMUser(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// The per-user key limit holds under concurrent creates: it is checked in the
// transaction that writes the key.
func TestIAMAccessKeyLimitConcurrent(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.CreateIAMUser(ctx, &IAMUser{UserName: "u"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateIAMAccessKey(ctx, &IAMAccessKey{AccessKeyID: "AKIA" + string(rune('A'+i)), UserName: "u"}, 2)
			if err == nil {
				mu.Lock()
				created++
				mu.Unlock()
			} else if !errors.Is(err, ErrQuota) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	keys, err := s.ListIAMAccessKeys(ctx, "u")
	if created != 2 || err != nil || len(keys) != 2 {
		t.Fatalf("created %d, listed %d (%v)", created, len(keys), err)
	}
	resp, _ := s.client.Get(ctx, iamKeysPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if resp.Count != 2 {
		t.Fatalf("%d key records in etcd", resp.Count)
	}
}

func TestIAMRoles(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	r := &IAMRole{RoleName: "Deploy", Path: "/ci/", Arn: "arn:aws:iam::000000000000:role/ci/Deploy", AssumeRolePolicyDocument: "{}", MaxSessionDuration: 3600}
	if err := s.CreateIAMRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIAMRole(ctx, &IAMRole{RoleName: "deploy"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate role: %v", err)
	}
	if got, err := s.GetIAMRole(ctx, "DEPLOY"); err != nil || got.Arn != r.Arn {
		t.Fatalf("GetIAMRole: %+v %v", got, err)
	}
	if roles, err := s.ListIAMRoles(ctx); err != nil || len(roles) != 1 {
		t.Fatalf("ListIAMRoles: %v %v", roles, err)
	}
	if err := s.DeleteIAMRole(ctx, "deploy"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIAMRole(ctx, "deploy"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// Once: made the first time, kept as it is, not made again once deleted.
	def := &IAMRole{RoleName: "eks", Arn: "arn:aws:iam::000000000000:role/eks", Description: "first"}
	got, created, err := s.CreateIAMRoleOnce(ctx, def, "test-once")
	if err != nil || !created || got.Description != "first" {
		t.Fatalf("first: %+v %v %v", got, created, err)
	}
	again := *def
	again.Description = "second"
	got, created, err = s.CreateIAMRoleOnce(ctx, &again, "test-once")
	if err != nil || created || got.Description != "first" {
		t.Fatalf("again: %+v %v %v", got, created, err)
	}
	if err := s.DeleteIAMRole(ctx, "eks"); err != nil {
		t.Fatal(err)
	}
	got, created, err = s.CreateIAMRoleOnce(ctx, &again, "test-once")
	if err != nil || created || got != nil {
		t.Fatalf("after delete: %+v %v %v", got, created, err)
	}
}

// A session's lease ends it: etcd deletes the record and the index drops it.
func TestIAMSessionLease(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	x, err := s.OpenIAMIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	sess := &IAMSession{AccessKeyID: "ASIA1", RoleArn: "arn:aws:iam::000000000000:role/r", RoleName: "r", SessionName: "s"}
	rev, err := s.PutIAMSession(ctx, sess, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIAMSession(ctx, sess, time.Second); !errors.Is(err, ErrExists) {
		t.Fatalf("same id twice: %v", err)
	}
	if err := x.WaitFor(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := x.Session("ASIA1"); got == nil || got.RoleName != "r" {
		t.Fatalf("index: %+v", got)
	}
	// etcd's shortest lease is a few seconds, whatever was asked.
	deadline := time.Now().Add(15 * time.Second)
	for x.Session("ASIA1") != nil {
		if time.Now().After(deadline) {
			t.Fatal("session still indexed after its lease")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, _ := s.client.Get(ctx, iamSessionKey("ASIA1")); len(resp.Kvs) != 0 {
		t.Fatal("session still in etcd")
	}
}

// A new index starts from what etcd holds, and stops with the store's client.
func TestIAMIndexRelistAndStop(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.CreateIAMUser(ctx, &IAMUser{UserName: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIAMAccessKey(ctx, &IAMAccessKey{AccessKeyID: "AKIAX", UserName: "u", Status: "Active"}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIAMSession(ctx, &IAMSession{AccessKeyID: "ASIAX"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	x, err := s.OpenIAMIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if x.AccessKey("AKIAX") == nil || x.Session("ASIAX") == nil || x.Len() != 2 {
		t.Fatal("index did not read existing records")
	}
	s.client.Close()
	select {
	case <-x.done:
	case <-time.After(10 * time.Second):
		t.Fatal("index still running after the client closed")
	}
}
