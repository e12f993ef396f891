package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/reconcile"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
)

// Provisioner does the work behind a cluster: it runs, changes and removes
// its control plane. Every call is idempotent and returns promptly; the
// reconciler calls again until the cluster is where it should be.
type Provisioner interface {
	// Ensure starts the cluster's control plane if it is not running and
	// reports what it sees of it now.
	Ensure(ctx context.Context, rec *store.ClusterRecord, info runinfo.Info) (Observed, error)
	// Remove stops the control plane and deletes all it had: processes,
	// files, and its keys in the datastore.
	Remove(ctx context.Context, rec *store.ClusterRecord, info runinfo.Info) error
}

// What a Provisioner may also be; the reconciler uses each it finds.
type (
	// StoreBinder is given kplane's datastore, which opens after the
	// provisioner is built, before the first Ensure.
	StoreBinder interface{ BindStore(*store.Store) }
	// ChangeNotifier sends the name of a cluster whose control plane
	// changed state (a process died, restarted, became ready), so that the
	// reconciler looks at it at once instead of at the next resync.
	ChangeNotifier interface {
		Changes(ctx context.Context) <-chan string
	}
	// Shutdowner stops whatever the provisioner runs, on a clean stop of kplane.
	Shutdowner interface {
		Shutdown(ctx context.Context) error
	}
)

// Observed is what the provisioner sees of a control plane.
type Observed struct {
	Ready bool // answers /readyz and is bootstrapped
	// Bootstrapping: a replica answers /readyz and its controller-manager
	// is making the default ServiceAccount, any moment now.
	Bootstrapping bool
	Endpoint      string // https://host:port
	CAData        string // base64 of the cluster CA's PEM
	Port          int
	// Issues are what is wrong right now (a component down, restarting...).
	Issues []shapes.ClusterIssue
	// Failed is set when the control plane cannot come up at all.
	Failed error
}

// Reconciler drives every cluster in the store to its recorded intent:
// CREATING to ACTIVE (or FAILED), DELETING to gone, updates to done.
type Reconciler struct {
	Provisioner Provisioner
	Log         *slog.Logger
	// Workers is how many clusters are reconciled at once (reconcile.Loop's default when 0).
	Workers int
	// Resync is how often every cluster is looked at even without a change.
	Resync time.Duration
	// CreateTimeout is how long a cluster may take to become ready before it is FAILED.
	CreateTimeout time.Duration
	// UpdateTimeout is how long an update may take to roll through the
	// replicas; then it is Failed and the control plane rolls back to the
	// cluster as it was before.
	UpdateTimeout time.Duration

	st   *store.Store
	info runinfo.Info

	issuesMu     sync.Mutex
	updateIssues map[string][]shapes.ClusterIssue // per cluster, while an update waits
}

// ShutdownTimeout bounds the provisioner's Shutdown once Run's ctx ended.
const ShutdownTimeout = 30 * time.Second

// Run reconciles until ctx ends. It returns once every worker has stopped
// and the provisioner has stopped what it runs (Shutdowner).
func (r *Reconciler) Run(ctx context.Context, st *store.Store, info runinfo.Info) error {
	r.defaults()
	r.st, r.info = st, info
	if b, ok := r.Provisioner.(StoreBinder); ok {
		b.BindStore(st)
	}
	loop := &reconcile.Loop{
		Name:      "clusters",
		Reconcile: r.reconcile,
		Keys:      r.clusterNames,
		Changes:   []<-chan string{st.WatchClusters()},
		Workers:   r.Workers,
		Resync:    r.Resync,
		Log:       r.Log,
	}
	if n, ok := r.Provisioner.(ChangeNotifier); ok {
		loop.Changes = append(loop.Changes, n.Changes(ctx))
	}
	loop.Run(ctx)
	r.shutdown()
	return nil
}

func (r *Reconciler) clusterNames(context.Context) ([]string, error) {
	var names []string
	for _, rec := range r.st.Clusters() {
		names = append(names, rec.Cluster.Name)
	}
	return names, nil
}

// shutdown stops what the provisioner runs, once no worker is left.
func (r *Reconciler) shutdown() {
	if s, ok := r.Provisioner.(Shutdowner); ok {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			r.Log.Warn("stopping control planes", "err", err)
		}
	}
}

func (r *Reconciler) defaults() {
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.CreateTimeout == 0 {
		r.CreateTimeout = 5 * time.Minute
	}
	if r.UpdateTimeout == 0 {
		r.UpdateTimeout = 10 * time.Minute
	}
}

// reconcile takes one step for the named cluster and says when to look again.
func (r *Reconciler) reconcile(ctx context.Context, name string) (time.Duration, error) {
	rec, err := r.st.GetCluster(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	switch rec.Cluster.Status {
	case shapes.StatusDeleting:
		if err := r.Provisioner.Remove(ctx, rec, r.info); err != nil {
			return 0, err
		}
		r.Log.Info("cluster deleted", "cluster", name)
		return 0, r.st.RemoveCluster(ctx, name)
	case shapes.StatusFailed:
		return 0, nil
	}
	if rec.ActiveUpdate != "" {
		if err := r.applyUpdate(ctx, rec); err != nil {
			return 0, err
		}
		return 100 * time.Millisecond, nil
	}
	obs, err := r.Provisioner.Ensure(ctx, rec, r.info)
	if err != nil {
		return 0, err
	}
	obs.Issues = append(obs.Issues, r.keyIssues(ctx, rec)...)
	return r.record(ctx, rec, obs)
}

// record writes what was observed into the cluster, if it changed anything.
func (r *Reconciler) record(ctx context.Context, rec *store.ClusterRecord, obs Observed) (time.Duration, error) {
	c := rec.Cluster
	status := c.Status
	issues := obs.Issues
	switch {
	case obs.Failed != nil:
		status = shapes.StatusFailed
		issues = append(issues, shapes.ClusterIssue{Code: "InternalFailure", Message: obs.Failed.Error()})
	case status == shapes.StatusCreating && obs.Ready:
		status = shapes.StatusActive
	case status == shapes.StatusCreating && time.Since(time.Unix(int64(c.CreatedAt), 0)) > r.CreateTimeout:
		status = shapes.StatusFailed
		issues = append(issues, shapes.ClusterIssue{Code: "ClusterUnreachable",
			Message: "the control plane did not become ready within " + r.CreateTimeout.String()})
	}
	if issues == nil {
		issues = []shapes.ClusterIssue{}
	}
	caData := ""
	if c.CertificateAuthority != nil {
		caData = c.CertificateAuthority.Data
	}
	same := status == c.Status && obs.Endpoint == c.Endpoint && obs.CAData == caData &&
		obs.Port == rec.Port && c.Health != nil && reflect.DeepEqual(issues, c.Health.Issues)
	if !same {
		_, err := r.st.UpdateCluster(ctx, c.Name, func(fresh *store.ClusterRecord) error {
			if fresh.Cluster.Status != c.Status {
				return errStale // someone else moved it (a delete); look again
			}
			fresh.Cluster.Status = status
			fresh.Cluster.Endpoint = obs.Endpoint
			fresh.Cluster.CertificateAuthority = &shapes.Certificate{Data: obs.CAData}
			fresh.Cluster.Health = &shapes.ClusterHealth{Issues: issues}
			fresh.Port = obs.Port
			return nil
		})
		if err != nil && !errors.Is(err, errStale) {
			return 0, err
		}
		if status != c.Status {
			r.Log.Info("cluster status", "cluster", c.Name, "from", c.Status, "to", status)
		}
	}
	if status == shapes.StatusCreating && obs.Bootstrapping {
		return bootstrapPoll, nil
	}
	if status == shapes.StatusCreating {
		return 100 * time.Millisecond, nil // the executor also reports /readyz at once
	}
	if len(issues) > 0 {
		return 250 * time.Millisecond, nil
	}
	return 0, nil
}

var errStale = errors.New("controlplane: cluster changed meanwhile")

// bootstrapPoll is how often a cluster whose apiserver is ready is checked
// for the default ServiceAccount: it appears ~0.5 s after /readyz, and each
// look is three GETs on a kept-alive connection.
const bootstrapPoll = 20 * time.Millisecond

// applyUpdate carries out the cluster's update in progress: the change goes
// into the cluster, the provisioner makes the control plane honour it, and the
// update is marked Successful (or Failed) in the same write that ends it.
func (r *Reconciler) applyUpdate(ctx context.Context, rec *store.ClusterRecord) error {
	u, err := r.st.GetUpdate(ctx, rec.Cluster.Name, rec.ActiveUpdate)
	if errors.Is(err, store.ErrNotFound) {
		_, err = r.st.UpdateCluster(ctx, rec.Cluster.Name, func(fresh *store.ClusterRecord) error {
			fresh.ActiveUpdate = ""
			fresh.Cluster.Status = shapes.StatusActive
			return nil
		})
		return err
	}
	if err != nil {
		return err
	}
	next := *rec
	next.Cluster = cloneCluster(rec.Cluster)
	var applyErr error
	switch u.Update.Type {
	case "AssociateEncryptionConfig":
		return r.associateEncryption(ctx, u, &next)
	case "VersionUpdate":
		var req shapes.UpdateClusterVersionRequest
		if applyErr = json.Unmarshal(u.Change, &req); applyErr == nil {
			next.Cluster.Version = req.Version
			// The platform version moves with the minor (the update's param).
			for _, p := range u.Update.Params {
				if p.Type == "PlatformVersion" {
					next.Cluster.PlatformVersion = p.Value
				}
			}
		}
	default:
		var req shapes.UpdateClusterConfigRequest
		if applyErr = json.Unmarshal(u.Change, &req); applyErr == nil {
			next.Cluster.ApplyConfig(&req)
		}
	}
	if applyErr == nil && time.Since(time.UnixMilli(int64(float64(u.Update.CreatedAt)*1000))) > r.UpdateTimeout {
		// A replica never got ready with the change: go back to the cluster
		// as it was (the replicas still on it kept serving), and only once
		// every replica runs it again end the update Failed.
		obs, err := r.Provisioner.Ensure(ctx, rec, r.info)
		if err != nil || !obs.Ready {
			return err
		}
		applyErr = fmt.Errorf("the control plane did not become ready with the change within %v (%s); it runs as before the update",
			r.UpdateTimeout, issueText(r.lastIssues(rec.Cluster.Name)))
	}
	if applyErr == nil {
		var obs Observed
		obs, applyErr = r.Provisioner.Ensure(ctx, &next, r.info)
		if applyErr == nil && !obs.Ready {
			r.noteIssues(rec.Cluster.Name, obs.Issues)
			return nil // not there yet; the worker looks again shortly
		}
	}
	final := *u
	if applyErr != nil {
		final.Update.Status = shapes.UpdateFailed
		final.Update.Errors = []shapes.ErrorDetail{{ErrorCode: "Unknown", ErrorMessage: applyErr.Error()}}
	} else {
		final.Update.Status = shapes.UpdateSuccessful
	}
	r.Log.Info("update finished", "cluster", rec.Cluster.Name, "update", u.Update.ID, "type", u.Update.Type, "status", final.Update.Status)
	return r.st.FinishUpdate(ctx, &final, func(fresh *store.ClusterRecord) error {
		if applyErr == nil {
			fresh.Cluster = next.Cluster
		}
		fresh.Cluster.Status = shapes.StatusActive
		return nil
	})
}

// noteIssues keeps what the provisioner last said was in the way of an
// update, for the error of an update that times out.
func (r *Reconciler) noteIssues(cluster string, issues []shapes.ClusterIssue) {
	r.issuesMu.Lock()
	defer r.issuesMu.Unlock()
	if r.updateIssues == nil {
		r.updateIssues = map[string][]shapes.ClusterIssue{}
	}
	r.updateIssues[cluster] = issues
}

func (r *Reconciler) lastIssues(cluster string) []shapes.ClusterIssue {
	r.issuesMu.Lock()
	defer r.issuesMu.Unlock()
	return r.updateIssues[cluster]
}

func issueText(issues []shapes.ClusterIssue) string {
	if len(issues) == 0 {
		return "no replica reported a problem"
	}
	var parts []string
	for _, i := range issues {
		parts = append(parts, i.Message)
	}
	return strings.Join(parts, "; ")
}

// cloneCluster deep-copies a cluster shape so changes to it do not touch the
// shared cached record.
func cloneCluster(c shapes.Cluster) shapes.Cluster {
	b, _ := json.Marshal(c)
	var out shapes.Cluster
	json.Unmarshal(b, &out)
	return out
}
