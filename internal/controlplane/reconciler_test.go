package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
)

// fakeProvisioner stands in for the control planes: each call answers what
// the test's functions say, and every call is recorded.
type fakeProvisioner struct {
	mu      sync.Mutex
	ensure  func(rec *store.ClusterRecord) (Observed, error)
	remove  func(rec *store.ClusterRecord) error
	ensured []*store.ClusterRecord
	removed []string
}

func (f *fakeProvisioner) Ensure(_ context.Context, rec *store.ClusterRecord, _ runinfo.Info) (Observed, error) {
	f.mu.Lock()
	f.ensured = append(f.ensured, rec)
	ensure := f.ensure
	f.mu.Unlock()
	return ensure(rec)
}

func (f *fakeProvisioner) Remove(_ context.Context, rec *store.ClusterRecord, _ runinfo.Info) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.remove != nil {
		if err := f.remove(rec); err != nil {
			return err
		}
	}
	f.removed = append(f.removed, rec.Cluster.Name)
	return nil
}

func (f *fakeProvisioner) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ensured)
}

func (f *fakeProvisioner) lastEnsured() *store.ClusterRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ensured) == 0 {
		return nil
	}
	return f.ensured[len(f.ensured)-1]
}

// reconcilerEnv is a real datastore (an embedded etcd) with a Reconciler
// running over it against a fakeProvisioner.
type reconcilerEnv struct {
	t    *testing.T
	st   *store.Store
	prov *fakeProvisioner
}

func newReconcilerEnv(t *testing.T, prov Provisioner, createTimeout time.Duration) *reconcilerEnv {
	t.Helper()
	return newReconcilerEnvInfo(t, prov, createTimeout, runinfo.Info{DataDir: t.TempDir()})
}

func newReconcilerEnvInfo(t *testing.T, prov Provisioner, createTimeout time.Duration, info runinfo.Info) *reconcilerEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Provisioner: prov, Log: log, Resync: 50 * time.Millisecond, CreateTimeout: createTimeout}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, st, info) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		st.Close()
	})
	fake, _ := prov.(*fakeProvisioner)
	return &reconcilerEnv{t: t, st: st, prov: fake}
}

// create records a cluster as CreateCluster does, with status.
func (e *reconcilerEnv) create(name, status string) {
	e.t.Helper()
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{
		Name: name, ID: "id-" + name, Status: status, CreatedAt: shapes.Time(time.Now().Unix()),
	}}
	if _, _, err := e.st.CreateCluster(context.Background(), rec, "", 10); err != nil {
		e.t.Fatal(err)
	}
}

// waitCluster waits until the cluster satisfies cond (nil: the cluster is gone).
func (e *reconcilerEnv) waitCluster(name, what string, cond func(*store.ClusterRecord) bool) *store.ClusterRecord {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := e.st.GetCluster(context.Background(), name)
		if errors.Is(err, store.ErrNotFound) {
			rec = nil
		} else if err != nil {
			e.t.Fatal(err)
		}
		if (cond == nil && rec == nil) || (cond != nil && rec != nil && cond(rec)) {
			return rec
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("cluster %s: timed out waiting for %s; last: %+v", name, what, rec)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ready(rec *store.ClusterRecord) (Observed, error) {
	return Observed{Ready: true, Endpoint: "https://127.0.0.1:1234", CAData: "Q0E=", Port: 1234}, nil
}

func TestReconcilerCreateBecomesActive(t *testing.T) {
	e := newReconcilerEnv(t, &fakeProvisioner{ensure: ready}, time.Minute)
	e.create("a", shapes.StatusCreating)
	rec := e.waitCluster("a", "ACTIVE", func(r *store.ClusterRecord) bool { return r.Cluster.Status == shapes.StatusActive })
	if rec.Cluster.Endpoint != "https://127.0.0.1:1234" || rec.Port != 1234 ||
		rec.Cluster.CertificateAuthority == nil || rec.Cluster.CertificateAuthority.Data != "Q0E=" {
		t.Fatalf("ACTIVE cluster without what was observed: %+v", rec)
	}
	if rec.Cluster.Health == nil || len(rec.Cluster.Health.Issues) != 0 {
		t.Fatalf("health %+v, want no issues", rec.Cluster.Health)
	}
}

// A cluster that does not become ready within CreateTimeout is FAILED, with
// the issue that says so; the issues seen meanwhile stay.
func TestReconcilerCreateTimeout(t *testing.T) {
	prov := &fakeProvisioner{ensure: func(*store.ClusterRecord) (Observed, error) {
		return Observed{Port: 1234, Issues: []shapes.ClusterIssue{{Code: "Other", Message: "replica down"}}}, nil
	}}
	e := newReconcilerEnv(t, prov, 500*time.Millisecond)
	e.create("slow", shapes.StatusCreating)
	rec := e.waitCluster("slow", "FAILED", func(r *store.ClusterRecord) bool { return r.Cluster.Status == shapes.StatusFailed })
	if age := time.Since(time.Unix(int64(rec.Cluster.CreatedAt), 0)); age < 500*time.Millisecond {
		t.Fatalf("FAILED after %s, before the create timeout", age)
	}
	issues := rec.Cluster.Health.Issues
	if len(issues) != 2 || issues[0].Message != "replica down" || issues[1].Code != "ClusterUnreachable" ||
		!strings.Contains(issues[1].Message, "did not become ready within 500ms") {
		t.Fatalf("issues %+v", issues)
	}
	// FAILED is final: the provisioner is not asked again.
	n := prov.calls()
	time.Sleep(200 * time.Millisecond)
	if prov.calls() != n {
		t.Fatalf("FAILED cluster still ensured (%d calls after %d)", prov.calls(), n)
	}
}

// A cluster deleted while the provisioner looked at it (its status in the
// store is no longer the one the reconciler read) is not written back as
// ACTIVE: the reconciler looks again and removes it.
func TestReconcilerStaleStatusIsNotWritten(t *testing.T) {
	e := (*reconcilerEnv)(nil)
	var once sync.Once
	prov := &fakeProvisioner{ensure: func(rec *store.ClusterRecord) (Observed, error) {
		once.Do(func() {
			if _, err := e.st.UpdateCluster(context.Background(), rec.Cluster.Name, func(fresh *store.ClusterRecord) error {
				fresh.Cluster.Status = shapes.StatusDeleting
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
		return ready(rec)
	}}
	e = newReconcilerEnv(t, prov, time.Minute)
	e.create("racy", shapes.StatusCreating)
	e.waitCluster("racy", "removal", nil)
	prov.mu.Lock()
	defer prov.mu.Unlock()
	if len(prov.removed) != 1 || prov.removed[0] != "racy" {
		t.Fatalf("removed %v", prov.removed)
	}
}

func (e *reconcilerEnv) startUpdate(name string, change shapes.UpdateClusterConfigRequest) string {
	e.t.Helper()
	b, _ := json.Marshal(change)
	u := &store.UpdateRecord{Cluster: name, Change: b, Update: shapes.Update{
		ID: "u-" + name, Status: shapes.UpdateInProgress, Type: "LoggingUpdate", CreatedAt: shapes.Time(time.Now().Unix()),
	}}
	if _, _, err := e.st.StartUpdate(context.Background(), u, "", func(rec *store.ClusterRecord) error {
		rec.Cluster.Status = shapes.StatusUpdating
		return nil
	}, nil); err != nil {
		e.t.Fatal(err)
	}
	return u.Update.ID
}

func enableAPILog() shapes.UpdateClusterConfigRequest {
	on := true
	return shapes.UpdateClusterConfigRequest{Logging: &shapes.Logging{ClusterLogging: []shapes.LogSetup{{Types: []string{"api"}, Enabled: &on}}}}
}

func logTypes(rec *store.ClusterRecord) []string {
	if rec.Cluster.Logging == nil {
		return nil
	}
	return rec.Cluster.Logging.EnabledLogTypes()
}

// An update is carried out by ensuring the changed cluster; once the
// provisioner reports it ready, the update is Successful and the cluster
// holds the change, in one write.
func TestReconcilerUpdateSuccess(t *testing.T) {
	readyNow := make(chan struct{})
	prov := &fakeProvisioner{ensure: func(rec *store.ClusterRecord) (Observed, error) {
		if len(logTypes(rec)) > 0 {
			select {
			case <-readyNow:
			default:
				return Observed{Port: 1234}, nil // rolling through the replicas
			}
		}
		return ready(rec)
	}}
	e := newReconcilerEnv(t, prov, time.Minute)
	e.create("up", shapes.StatusActive)
	id := e.startUpdate("up", enableAPILog())
	deadline := time.Now().Add(10 * time.Second)
	for last := prov.lastEnsured(); last == nil || len(logTypes(last)) == 0; last = prov.lastEnsured() {
		if time.Now().After(deadline) {
			t.Fatal("the provisioner was never given the changed cluster")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if u, _ := e.st.GetUpdate(context.Background(), "up", id); u.Update.Status != shapes.UpdateInProgress {
		t.Fatalf("update %s before the control plane was ready", u.Update.Status)
	}
	close(readyNow)
	rec := e.waitCluster("up", "the update's end", func(r *store.ClusterRecord) bool { return r.ActiveUpdate == "" })
	u, err := e.st.GetUpdate(context.Background(), "up", id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Update.Status != shapes.UpdateSuccessful || len(u.Update.Errors) != 0 {
		t.Fatalf("update %+v, want Successful", u.Update)
	}
	if rec.Cluster.Status != shapes.StatusActive || strings.Join(logTypes(rec), ",") != "api" {
		t.Fatalf("cluster status %s, log types %v; want ACTIVE with api", rec.Cluster.Status, logTypes(rec))
	}
}

// An update the provisioner cannot apply is Failed with its error, and the
// cluster is ACTIVE as it was.
func TestReconcilerUpdateFailure(t *testing.T) {
	prov := &fakeProvisioner{ensure: func(rec *store.ClusterRecord) (Observed, error) {
		if len(logTypes(rec)) > 0 {
			return Observed{}, errors.New("cannot apply logging")
		}
		return ready(rec)
	}}
	e := newReconcilerEnv(t, prov, time.Minute)
	e.create("down", shapes.StatusActive)
	id := e.startUpdate("down", enableAPILog())
	rec := e.waitCluster("down", "the update's end", func(r *store.ClusterRecord) bool { return r.ActiveUpdate == "" })
	u, err := e.st.GetUpdate(context.Background(), "down", id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Update.Status != shapes.UpdateFailed || len(u.Update.Errors) != 1 || u.Update.Errors[0].ErrorMessage != "cannot apply logging" {
		t.Fatalf("update %+v, want Failed with the provisioner's error", u.Update)
	}
	if rec.Cluster.Status != shapes.StatusActive || len(logTypes(rec)) != 0 {
		t.Fatalf("cluster status %s, log types %v; want ACTIVE unchanged", rec.Cluster.Status, logTypes(rec))
	}
}

// A DELETING cluster is removed by the provisioner, then from the store; a
// failed Remove is retried, and the record stays until one succeeds.
func TestReconcilerDelete(t *testing.T) {
	var mu sync.Mutex
	failing, attempts := true, 0
	prov := &fakeProvisioner{ensure: ready, remove: func(*store.ClusterRecord) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if failing {
			return errors.New("process would not stop")
		}
		return nil
	}}
	e := newReconcilerEnv(t, prov, time.Minute)
	e.create("gone", shapes.StatusDeleting)
	time.Sleep(300 * time.Millisecond)
	if _, err := e.st.GetCluster(context.Background(), "gone"); err != nil {
		t.Fatalf("record removed although Remove failed: %v", err)
	}
	mu.Lock()
	if attempts < 2 {
		t.Errorf("Remove tried %d times in 300ms, want it retried", attempts)
	}
	failing = false
	mu.Unlock()
	e.waitCluster("gone", "removal", nil)
	prov.mu.Lock()
	defer prov.mu.Unlock()
	if len(prov.removed) != 1 {
		t.Fatalf("removed %v, want once", prov.removed)
	}
	for _, rec := range prov.ensured {
		if rec.Cluster.Name == "gone" {
			t.Fatal("a DELETING cluster was ensured")
		}
	}
}

// A version update whose replicas never get ready is Failed after
// UpdateTimeout with what was in the way, once the control plane runs the
// old version again; the cluster is ACTIVE on its old version and platform.
func TestReconcilerVersionUpdateTimesOutAndRollsBack(t *testing.T) {
	prov := &fakeProvisioner{ensure: func(rec *store.ClusterRecord) (Observed, error) {
		if rec.Cluster.Version == "1.37" {
			return Observed{Port: 1234, Issues: []shapes.ClusterIssue{{Code: "Other", Message: "replica a: exit status 1"}}}, nil
		}
		return ready(rec)
	}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Provisioner: prov, Log: log, Resync: 50 * time.Millisecond, CreateTimeout: time.Minute, UpdateTimeout: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, st, runinfo.Info{DataDir: t.TempDir()}) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	e := &reconcilerEnv{t: t, st: st, prov: prov}
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{
		Name: "old", ID: "id-old", Status: shapes.StatusActive, Version: "1.36", PlatformVersion: "eks.4", CreatedAt: shapes.Time(time.Now().Unix()),
	}}
	if _, _, err := st.CreateCluster(context.Background(), rec, "", 10); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(shapes.UpdateClusterVersionRequest{Version: "1.37"})
	u := &store.UpdateRecord{Cluster: "old", Change: b, Update: shapes.Update{
		ID: "u-old", Status: shapes.UpdateInProgress, Type: "VersionUpdate", CreatedAt: shapes.Time(float64(time.Now().UnixMilli()) / 1000),
		Params: []shapes.UpdateParam{{Type: "Version", Value: "1.37"}, {Type: "PlatformVersion", Value: "eks.1"}},
	}}
	if _, _, err := st.StartUpdate(context.Background(), u, "", func(rec *store.ClusterRecord) error {
		rec.Cluster.Status = shapes.StatusUpdating
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	// While within the timeout the update waits for the new version.
	time.Sleep(300 * time.Millisecond)
	if got, _ := st.GetUpdate(context.Background(), "old", "u-old"); got.Update.Status != shapes.UpdateInProgress {
		t.Fatalf("update %s before its timeout", got.Update.Status)
	}
	end := e.waitCluster("old", "the update's end", func(r *store.ClusterRecord) bool { return r.ActiveUpdate == "" })
	got, err := st.GetUpdate(context.Background(), "old", "u-old")
	if err != nil {
		t.Fatal(err)
	}
	if got.Update.Status != shapes.UpdateFailed || len(got.Update.Errors) != 1 || !strings.Contains(got.Update.Errors[0].ErrorMessage, "replica a: exit status 1") {
		t.Fatalf("update %+v, want Failed naming the replica's problem", got.Update)
	}
	if end.Cluster.Status != shapes.StatusActive || end.Cluster.Version != "1.36" || end.Cluster.PlatformVersion != "eks.4" {
		t.Fatalf("cluster %s %s %s, want ACTIVE 1.36 eks.4", end.Cluster.Status, end.Cluster.Version, end.Cluster.PlatformVersion)
	}
	if last := prov.lastEnsured(); last.Cluster.Version != "1.36" {
		t.Fatalf("the provisioner was last given version %s, want the old 1.36", last.Cluster.Version)
	}
}

// A version update that rolls through moves the cluster's version and
// platform version together.
func TestReconcilerVersionUpdateMovesPlatformVersion(t *testing.T) {
	e := newReconcilerEnv(t, &fakeProvisioner{ensure: ready}, time.Minute)
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{
		Name: "up", ID: "id-up", Status: shapes.StatusActive, Version: "1.36", PlatformVersion: "eks.4", CreatedAt: shapes.Time(time.Now().Unix()),
	}}
	if _, _, err := e.st.CreateCluster(context.Background(), rec, "", 10); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(shapes.UpdateClusterVersionRequest{Version: "1.37"})
	u := &store.UpdateRecord{Cluster: "up", Change: b, Update: shapes.Update{
		ID: "u-up", Status: shapes.UpdateInProgress, Type: "VersionUpdate", CreatedAt: shapes.Time(time.Now().Unix()),
		Params: []shapes.UpdateParam{{Type: "Version", Value: "1.37"}, {Type: "PlatformVersion", Value: "eks.1"}},
	}}
	if _, _, err := e.st.StartUpdate(context.Background(), u, "", func(rec *store.ClusterRecord) error {
		rec.Cluster.Status = shapes.StatusUpdating
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	end := e.waitCluster("up", "the update's end", func(r *store.ClusterRecord) bool { return r.ActiveUpdate == "" })
	if got, _ := e.st.GetUpdate(context.Background(), "up", "u-up"); got.Update.Status != shapes.UpdateSuccessful {
		t.Fatalf("update %+v", got.Update)
	}
	if end.Cluster.Status != shapes.StatusActive || end.Cluster.Version != "1.37" || end.Cluster.PlatformVersion != "eks.1" {
		t.Fatalf("cluster %s %s %s, want ACTIVE 1.37 eks.1", end.Cluster.Status, end.Cluster.Version, end.Cluster.PlatformVersion)
	}
}
