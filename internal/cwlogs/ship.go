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
// stream itself (the newest event carries its source position), so a
// restart of kplane, even after a crash in the middle of an append, ships
// each line exactly once.
type Shipper struct {
	Service *Service
	Store   *store.Store
	// Files gives a cluster's enabled log types and each one's files.
	Files    func(*store.ClusterRecord) map[string][]string
	Interval time.Duration
	Log      *slog.Logger

	state map[string]*shipState // by group id/stream
}

// Run ships until ctx ends.
func (s *Shipper) Run(ctx context.Context) {
	if s.Interval == 0 {
		s.Interval = time.Second
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()
	trimmed := time.Time{}
	for {
		if time.Since(trimmed) > trimInterval {
			if err := s.Service.Trim(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("cloudwatch logs: retention trim failed", "err", err)
			}
			trimmed = time.Now()
		}
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

// shipState is how far a source file has been shipped into its stream.
type shipState struct {
	offset int64 // in the source file
	last   int64 // the stream's newest timestamp
}

// resume reads where a stream's shipping stopped: the position its newest
// event carries (written with the events, so a crash cannot separate them),
// else the meta's (a legacy stream, or one retention emptied).
func (s *Shipper) resume(groupID, stream string) (*shipState, error) {
	st := &shipState{}
	if m, err := s.Service.events.readMeta(groupID, stream); err == nil {
		st.offset = m.Offset
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	c, err := s.Service.events.open(groupID, stream)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if c != nil {
		if ev, ok := c.lastEvent(); ok {
			st.last = ev.Timestamp
			if ev.Position > 0 {
				st.offset = ev.Position
			}
		}
	}
	return st, nil
}

func (s *Shipper) shipFile(g *store.LogGroup, stream, path string) error {
	ev := s.Service.events
	key := g.ID + "/" + stream
	if s.state == nil {
		s.state = map[string]*shipState{}
	}
	st := s.state[key]
	if st == nil {
		var err error
		if st, err = s.resume(g.ID, stream); err != nil {
			return err
		}
		s.state[key] = st
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
	if info.Size() < st.offset { // the file was truncated or replaced: read it anew
		st.offset = 0
	}
	now := s.Service.now().UnixMilli()
	if info.Size() == st.offset {
		return ev.ensureStream(g.ID, stream, path, now) // the stream exists from its first sight
	}
	buf := make([]byte, min(info.Size()-st.offset, maxRead))
	n, err := f.ReadAt(buf, st.offset)
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
	ts := max(st.last, now) // timestamps never go back within a stream
	// Each event carries the source position after its line: a batch a
	// crash tore keeps its whole lines, and each says how far it got.
	var events []Event
	pos := st.offset
	for _, line := range bytes.Split(buf[:end], []byte{'\n'}) {
		pos += int64(len(line)) + 1
		if len(line) == 0 {
			continue
		}
		if len(line) > maxMessage {
			line = line[:maxMessage]
		}
		events = append(events, Event{Timestamp: ts, Ingestion: now, Message: string(line), Position: pos})
	}
	next := st.offset + int64(end+1)
	if err := ev.ensureStream(g.ID, stream, path, now); err != nil {
		return err
	}
	if err := ev.append(g.ID, stream, now, events); err != nil {
		return err
	}
	st.offset, st.last = next, ts
	return nil
}
