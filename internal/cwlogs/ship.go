package cwlogs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/kplane/kplane/internal/store"
)

const (
	// maxMessage is CloudWatch's largest event (256 KiB); longer lines are cut.
	maxMessage = 256 << 10
	// maxRead bounds what one pass reads of one file.
	maxRead = 4 << 20
)

// streamPrefixes are the stream name prefixes EKS gives each log type.
var streamPrefixes = map[string]string{
	"api":               "kube-apiserver",
	"audit":             "kube-apiserver-audit",
	"authenticator":     "authenticator",
	"controllerManager": "kube-controller-manager",
	"scheduler":         "kube-scheduler",
}

// GroupName is the log group EKS ships cluster NAME's control-plane logs to.
func GroupName(cluster string) string { return "/aws/eks/" + cluster + "/cluster" }

// Shipper puts every cluster's enabled control-plane logs into its log
// group, one stream per log type and replica, named as EKS names them
// (kube-apiserver-HEX, kube-apiserver-audit-HEX, ...). It polls the files
// the components write; how far each file has been shipped is kept in the
// stream's meta file, so a restart of kplane ships each line once (a crash
// between an append and its meta write can ship a batch twice).
type Shipper struct {
	Service *Service
	Store   *store.Store
	// Files gives a cluster's enabled log types and each one's files.
	Files    func(*store.ClusterRecord) map[string][]string
	Interval time.Duration
	Log      *slog.Logger

	last map[string]int64 // newest timestamp per group/stream
}

// Run ships until ctx ends.
func (s *Shipper) Run(ctx context.Context) {
	if s.Interval == 0 {
		s.Interval = time.Second
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.last = map[string]int64{}
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()
	for {
		for _, rec := range s.Store.Clusters() {
			if err := s.ShipCluster(ctx, rec); err != nil && ctx.Err() == nil {
				s.Log.Warn("cloudwatch logs: shipping failed", "cluster", rec.Cluster.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ShipCluster ships what is new in one cluster's enabled log files.
func (s *Shipper) ShipCluster(ctx context.Context, rec *store.ClusterRecord) error {
	if rec.Cluster.Status == "DELETING" || rec.Cluster.Status == "FAILED" {
		return nil
	}
	files := s.Files(rec)
	if len(files) == 0 {
		return nil
	}
	g, err := s.Service.EnsureGroup(ctx, GroupName(rec.Cluster.Name))
	if err != nil {
		return err
	}
	for typ, paths := range files {
		prefix, ok := streamPrefixes[typ]
		if !ok {
			continue
		}
		for _, p := range paths {
			sum := md5.Sum([]byte(rec.Cluster.ID + "\x00" + p))
			if err := s.shipFile(g, prefix+"-"+hex.EncodeToString(sum[:]), p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Shipper) shipFile(g *store.LogGroup, stream, path string) error {
	ev := s.Service.events
	meta, err := ev.readMeta(g.ID, stream)
	if errors.Is(err, fs.ErrNotExist) {
		meta = &streamMeta{Name: stream, CreationTime: s.Service.now().UnixMilli(), Source: path}
	} else if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() < meta.Offset { // the file was truncated or replaced: read it anew
		meta.Offset = 0
	}
	if info.Size() == meta.Offset {
		if _, err := ev.readMeta(g.ID, stream); errors.Is(err, fs.ErrNotExist) {
			return ev.append(g.ID, meta, nil) // the stream exists from its first sight
		}
		return nil
	}
	buf := make([]byte, min(info.Size()-meta.Offset, maxRead))
	n, err := f.ReadAt(buf, meta.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	buf = buf[:n]
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		if len(buf) < maxRead {
			return nil // a line still being written
		}
		end = len(buf) - 1 // one line longer than a read: ship what there is
	}
	key := g.ID + "/" + stream
	ts, ok := s.last[key]
	if !ok {
		_, ts, _, _ = ev.edges(g.ID, stream)
	}
	now := s.Service.now().UnixMilli()
	ts = max(ts, now) // timestamps never go back within a stream
	var events []Event
	for _, line := range bytes.Split(buf[:end], []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		if len(line) > maxMessage {
			line = line[:maxMessage]
		}
		events = append(events, Event{Timestamp: ts, Ingestion: now, Message: string(line)})
	}
	meta.Offset += int64(end + 1)
	if err := ev.append(g.ID, meta, events); err != nil {
		return err
	}
	s.last[key] = ts
	return nil
}
