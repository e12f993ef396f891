// Package kmsplugin is the KMS v2 plugin kplane serves to each cluster
// whose encryptionConfig names a KMS key: kube-apiserver's KMS v2 provider
// (--encryption-provider-config) talks gRPC (k8s.io/kms's service) over a
// unix socket per cluster, and the plugin seals the data encryption keys the
// apiserver makes with the cluster's key in kplane's KMS. The apiserver
// caches its data keys, so a Secret write costs no call here most of the time.
package kmsplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	kmsservice "k8s.io/kms/pkg/service"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/kms"
	"github.com/kplane/kplane/internal/store"
)

// contextKey names the cluster in every blob's encryption context: a blob
// of one cluster does not decrypt for another, even with the same key.
const contextKey = "aws:eks:cluster-id"

// plugin is one cluster's kmsservice.Service.
type plugin struct {
	kms       *kms.Service
	keyArn    string
	clusterID string
}

// Status is healthy while the key can encrypt; the apiserver polls it and
// reports its KMS provider unhealthy otherwise (and then refuses writes of
// new Secrets until the key is back).
func (p *plugin) Status(ctx context.Context) (*kmsservice.StatusResponse, error) {
	arn, e := p.kms.KeyStatus(ctx, p.keyArn)
	if arn == "" {
		arn = p.keyArn
	}
	health := "ok"
	if e != nil {
		health = e.Type + ": " + e.Message
	}
	return &kmsservice.StatusResponse{Version: "v2", Healthz: health, KeyID: arn}, nil
}

func (p *plugin) Encrypt(ctx context.Context, _ string, data []byte) (*kmsservice.EncryptResponse, error) {
	arn, e := p.kms.KeyStatus(ctx, p.keyArn)
	if e != nil {
		return nil, e
	}
	blob, e := p.kms.Encrypt(ctx, arn, data, map[string]string{contextKey: p.clusterID})
	if e != nil {
		return nil, e
	}
	return &kmsservice.EncryptResponse{Ciphertext: blob, KeyID: arn}, nil
}

func (p *plugin) Decrypt(ctx context.Context, _ string, req *kmsservice.DecryptRequest) ([]byte, error) {
	plain, _, e := p.kms.Decrypt(ctx, req.Ciphertext, map[string]string{contextKey: p.clusterID})
	if e != nil {
		return nil, e
	}
	return plain, nil
}

// Server serves a plugin for every cluster with an encryptionConfig, on the
// socket Socket names, while the cluster exists.
type Server struct {
	KMS    *kms.Service
	Store  *store.Store
	Socket func(*store.ClusterRecord) string
	Log    *slog.Logger

	mu      sync.Mutex
	serving map[string]*served // by cluster id
}

type served struct {
	svc    *kmsservice.GRPCService
	socket string
	keyArn string
}

// Run serves until ctx ends, then stops every plugin and removes its socket.
func (s *Server) Run(ctx context.Context) {
	s.serving = map[string]*served{}
	changed := s.Store.WatchClusters()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	defer s.stopAll()
	for {
		s.sync()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

func (s *Server) sync() {
	want := map[string]string{} // key ARN by cluster id
	for _, rec := range s.Store.Clusters() {
		if arn := KeyArn(rec); arn != "" && rec.Cluster.ID != "" {
			want[rec.Cluster.ID] = arn
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sv := range s.serving {
		if arn, ok := want[id]; !ok || arn != sv.keyArn {
			sv.svc.Close()
			os.Remove(sv.socket)
			delete(s.serving, id)
		}
	}
	for _, rec := range s.Store.Clusters() {
		arn, ok := want[rec.Cluster.ID]
		if _, serving := s.serving[rec.Cluster.ID]; !ok || serving {
			continue
		}
		if err := s.start(rec, arn); err != nil {
			s.Log.Warn("kms plugin: cannot serve", "cluster", rec.Cluster.Name, "err", err)
		}
	}
}

// KeyArn is the KMS key a cluster's Secrets are encrypted with: its
// encryptionConfig's, or the one an AssociateEncryptionConfig in progress
// turns on ("" if none).
func KeyArn(rec *store.ClusterRecord) string {
	for _, ec := range [][]shapes.EncryptionConfig{rec.Cluster.EncryptionConfig, rec.PendingEncryption} {
		if len(ec) > 0 && ec[0].Provider != nil {
			return ec[0].Provider.KeyArn
		}
	}
	return ""
}

func (s *Server) start(rec *store.ClusterRecord, arn string) error {
	socket := s.Socket(rec)
	if len(socket) > 100 {
		return fmt.Errorf("socket path %s is longer than a unix socket allows", socket)
	}
	if err := os.MkdirAll(filepath.Dir(socket), 0o700); err != nil {
		return err
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	svc := kmsservice.NewGRPCService(socket, 10*time.Second, &plugin{kms: s.KMS, keyArn: arn, clusterID: rec.Cluster.ID})
	s.serving[rec.Cluster.ID] = &served{svc: svc, socket: socket, keyArn: arn}
	go func() {
		if err := svc.ListenAndServe(); err != nil {
			s.Log.Debug("kms plugin stopped", "cluster", rec.Cluster.Name, "err", err)
		}
	}()
	return nil
}

func (s *Server) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sv := range s.serving {
		sv.svc.Close()
		os.Remove(sv.socket)
		delete(s.serving, id)
		// Its directory, and /run/kplane above it, go when nothing else is in them.
		if os.Remove(filepath.Dir(sv.socket)) == nil && strings.HasPrefix(sv.socket, "/run/kplane/") {
			os.Remove("/run/kplane")
		}
	}
}
