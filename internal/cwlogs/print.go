package cwlogs

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"

	"github.com/kplane/kplane/internal/store"
)

// ErrNoLog is WriteLog's answer when the cluster has no stream of the type.
var ErrNoLog = errors.New("no log events yet")

// WriteLog writes one log type of cluster's shipped logs (the streams of
// /aws/eks/CLUSTER/cluster that EKS names for that type, one per replica),
// oldest first, a message per line: what `kplane logs` prints, from the
// same store CloudWatch Logs reads. Retention applies.
func (s *Service) WriteLog(ctx context.Context, w io.Writer, cluster, logType string) error {
	prefix, ok := streamPrefixes[logType]
	if !ok {
		return errors.New("unknown log type " + logType)
	}
	g, err := s.st.GetLogGroup(ctx, GroupName(cluster))
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoLog
	} else if err != nil {
		return err
	}
	names, err := s.events.streams(g.ID)
	if err != nil {
		return err
	}
	cutoff := s.retentionCutoff(g)
	var heads []*head
	defer func() {
		for _, h := range heads {
			h.cur.close()
		}
	}()
	for _, n := range names {
		if !ofType(n, prefix) {
			continue
		}
		cur, err := s.events.open(g.ID, n)
		if err != nil {
			return err
		}
		if cur == nil {
			continue
		}
		cur.seekTime(cutoff)
		h := &head{name: n, cur: cur}
		h.ev, h.at, h.ok = cur.nextRaw()
		heads = append(heads, h)
	}
	if len(heads) == 0 {
		return ErrNoLog
	}
	out := bufio.NewWriter(w)
	for {
		var best *head
		for _, h := range heads {
			if h.ok && (best == nil || h.ev.ts < best.ev.ts) {
				best = h
			}
		}
		if best == nil {
			break
		}
		if msg, ok := best.ev.message(); ok && best.ev.ts >= cutoff {
			out.WriteString(msg)
			out.WriteByte('\n')
		}
		best.ev, best.at, best.ok = best.cur.nextRaw()
	}
	return out.Flush()
}

// ofType says whether stream is PREFIX-<32 hex digits> (kube-apiserver-...
// is not kube-apiserver-audit-...).
func ofType(stream, prefix string) bool {
	rest, ok := strings.CutPrefix(stream, prefix+"-")
	if !ok || len(rest) != 32 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// head is a stream's next event in a merge by timestamp.
type head struct {
	name string
	cur  *cursor
	ev   rawEvent
	at   int64
	ok   bool
}
