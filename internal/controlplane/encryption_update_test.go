package controlplane

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
)

const testKey = "arn:aws:kms:us-west-2:000000000000:key/k1"

// rewritingProvisioner is a fakeProvisioner that also rewrites Secrets:
// it records whether the cluster it was given runs with encryption.
type rewritingProvisioner struct {
	*fakeProvisioner
	mu        sync.Mutex
	fail      error
	rewrote   int
	encrypted bool // the last Ensure before the rewrite had the encryptionConfig
}

func (p *rewritingProvisioner) RewriteSecrets(_ context.Context, rec *store.ClusterRecord) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return 0, p.fail
	}
	p.rewrote++
	last := p.lastEnsured()
	p.encrypted = last != nil && len(last.Cluster.EncryptionConfig) > 0 && len(rec.Cluster.EncryptionConfig) > 0
	return 3, nil
}

func testEncryption() []shapes.EncryptionConfig {
	return []shapes.EncryptionConfig{{Resources: []string{"secrets"}, Provider: &shapes.Provider{KeyArn: testKey}}}
}

// startAssociate records an AssociateEncryptionConfig update as the EKS
// handler does, created age ago.
func (e *reconcilerEnv) startAssociate(name string, age time.Duration) string {
	e.t.Helper()
	u := &store.UpdateRecord{Cluster: name, Change: []byte(`{"encryptionConfig":[{"resources":["secrets"],"provider":{"keyArn":"` + testKey + `"}}]}`),
		Update: shapes.Update{ID: "enc-" + name, Status: shapes.UpdateInProgress, Type: "AssociateEncryptionConfig",
			CreatedAt: shapes.Time(time.Now().Add(-age).Unix())}}
	if _, _, err := e.st.StartUpdate(context.Background(), u, "", func(rec *store.ClusterRecord) error {
		rec.Cluster.Status = shapes.StatusUpdating
		rec.PendingEncryption = testEncryption()
		return nil
	}, nil); err != nil {
		e.t.Fatal(err)
	}
	return u.Update.ID
}

func (e *reconcilerEnv) finished(name, id string) (*store.ClusterRecord, shapes.Update) {
	e.t.Helper()
	rec := e.waitCluster(name, "the update's end", func(r *store.ClusterRecord) bool { return r.ActiveUpdate == "" })
	u, err := e.st.GetUpdate(context.Background(), name, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec, u.Update
}

// AssociateEncryptionConfig rolls the control plane with the key, then
// rewrites the Secrets, then is Successful with the config on the cluster.
func TestAssociateEncryptionRollsThenRewrites(t *testing.T) {
	prov := &rewritingProvisioner{fakeProvisioner: &fakeProvisioner{ensure: ready}}
	e := newReconcilerEnv(t, prov, time.Minute)
	e.create("enc", shapes.StatusActive)
	id := e.startAssociate("enc", 0)
	rec, u := e.finished("enc", id)
	if u.Status != shapes.UpdateSuccessful {
		t.Fatalf("update %+v", u)
	}
	prov.mu.Lock()
	defer prov.mu.Unlock()
	if prov.rewrote != 1 || !prov.encrypted {
		t.Fatalf("rewrites %d, after a roll with the key: %v", prov.rewrote, prov.encrypted)
	}
	if len(rec.Cluster.EncryptionConfig) != 1 || rec.PendingEncryption != nil || rec.Cluster.Status != shapes.StatusActive {
		t.Fatalf("cluster after: %+v pending %v", rec.Cluster.EncryptionConfig, rec.PendingEncryption)
	}
}

// A key no longer usable when the update starts fails it, and the cluster
// stays unencrypted; a rewrite that keeps failing fails it once the update
// is past its time, keeping the config (Secrets may already be ciphertext).
func TestAssociateEncryptionFailures(t *testing.T) {
	prov := &rewritingProvisioner{fakeProvisioner: &fakeProvisioner{ensure: ready}}
	disabled := true
	var mu sync.Mutex
	info := runinfo.Info{DataDir: t.TempDir(), KMSKeyIssue: func(_ context.Context, arn string) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		if disabled {
			return "KmsKeyDisabled", arn + " is disabled"
		}
		return "", ""
	}}
	e := newReconcilerEnvInfo(t, prov, time.Minute, info)
	e.create("off", shapes.StatusActive)
	rec, u := e.finished("off", e.startAssociate("off", 0))
	if u.Status != shapes.UpdateFailed || len(u.Errors) != 1 || !strings.Contains(u.Errors[0].ErrorMessage, "KmsKeyDisabled") {
		t.Fatalf("update with a disabled key: %+v", u)
	}
	if len(rec.Cluster.EncryptionConfig) != 0 || rec.PendingEncryption != nil {
		t.Fatalf("cluster after a refused association: %+v", rec)
	}

	mu.Lock()
	disabled = false
	mu.Unlock()
	prov.mu.Lock()
	prov.fail = errors.New("rewriting secret default/a: HTTP 500")
	prov.mu.Unlock()
	e.create("late", shapes.StatusActive)
	rec, u = e.finished("late", e.startAssociate("late", encryptionUpdateTimeout+time.Minute))
	if u.Status != shapes.UpdateFailed || !strings.Contains(u.Errors[0].ErrorMessage, "HTTP 500") {
		t.Fatalf("update with failing rewrites: %+v", u)
	}
	if len(rec.Cluster.EncryptionConfig) != 1 || rec.PendingEncryption != nil {
		t.Fatalf("cluster after a failed rewrite keeps its encryption: %+v", rec.Cluster.EncryptionConfig)
	}
}

// A cluster whose key is disabled has the KmsKeyDisabled health issue while
// it is, and none once it is enabled again.
func TestKeyHealthIssue(t *testing.T) {
	var mu sync.Mutex
	disabled := false
	info := runinfo.Info{DataDir: t.TempDir(), KMSKeyIssue: func(_ context.Context, arn string) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		if disabled && arn == testKey {
			return "KmsKeyDisabled", "disabled"
		}
		return "", ""
	}}
	e := newReconcilerEnvInfo(t, &fakeProvisioner{ensure: ready}, time.Minute, info)
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "sealed", ID: "id-sealed", Status: shapes.StatusActive,
		CreatedAt: shapes.Time(time.Now().Unix()), EncryptionConfig: testEncryption()}}
	if _, _, err := e.st.CreateCluster(context.Background(), rec, "", 10); err != nil {
		t.Fatal(err)
	}
	issue := func(r *store.ClusterRecord) string {
		if r.Cluster.Health == nil || len(r.Cluster.Health.Issues) == 0 {
			return ""
		}
		return r.Cluster.Health.Issues[0].Code
	}
	e.waitCluster("sealed", "health written", func(r *store.ClusterRecord) bool { return r.Cluster.Health != nil })
	mu.Lock()
	disabled = true
	mu.Unlock()
	got := e.waitCluster("sealed", "KmsKeyDisabled", func(r *store.ClusterRecord) bool { return issue(r) == "KmsKeyDisabled" })
	if ids := got.Cluster.Health.Issues[0].ResourceIDs; len(ids) != 1 || ids[0] != testKey || got.Cluster.Status != shapes.StatusActive {
		t.Fatalf("issue %+v, status %s", got.Cluster.Health.Issues[0], got.Cluster.Status)
	}
	mu.Lock()
	disabled = false
	mu.Unlock()
	e.waitCluster("sealed", "no issue", func(r *store.ClusterRecord) bool { return issue(r) == "" })
}
