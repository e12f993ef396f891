package cwlogs

import (
	"context"
	"os"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// Retention removes events from disk, not only from reads: whole segments
// whose every event is older than the group's retention go. CloudWatch
// deletes expired events within days; kplane trims when a retention is set
// and then every trimInterval (Shipper.Run). Reads hide what is older than
// the retention meanwhile, so the answer never depends on when a trim ran.
const trimInterval = time.Minute

// Trim removes every group's expired segments.
func (s *Service) Trim(ctx context.Context) error {
	groups, err := s.st.ListLogGroups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := s.trimGroup(g); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) trimGroup(g *store.LogGroup) error {
	if g.RetentionInDays == nil {
		return nil
	}
	streams, err := s.events.streams(g.ID)
	if err != nil {
		return err
	}
	cutoff := s.retentionCutoff(g)
	for _, name := range streams {
		if err := s.events.trim(g.ID, name, cutoff); err != nil {
			return err
		}
	}
	return nil
}

// trim removes a stream's segments whose events are all older than cutoff,
// oldest first. Every event of a segment is at or before the next segment's
// first; the last segment is read to its end. Before the last one goes, the
// meta records where the stream ends (its next segment's base, the source
// position of its last event), so offsets and shipping carry on from there.
func (s *eventStore) trim(groupID, stream string, cutoff int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	segs, err := s.segments(groupID, stream)
	if err != nil {
		return err
	}
	for i, seg := range segs {
		if i+1 < len(segs) {
			if first, ok := firstTimestamp(segs[i+1]); !ok || first >= cutoff {
				return nil
			}
		} else {
			c := &cursor{segs: segs[i:], i: -1}
			last, ok := c.lastEvent()
			c.close()
			if ok && last.Timestamp >= cutoff {
				return nil
			}
			m, err := s.readMeta(groupID, stream)
			if err != nil {
				return err
			}
			m.NextBase = seg.base + seg.size
			if last.Position > 0 {
				m.Offset = last.Position
			}
			if err := s.writeMeta(groupID, m); err != nil {
				return err
			}
			delete(s.repaired, groupID+"/"+stream)
		}
		if err := os.Remove(seg.path); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
