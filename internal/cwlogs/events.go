package cwlogs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kplane/kplane/internal/fileutil"
)

// Event files. Each log group has a directory DATA_DIR/cloudwatch-logs/ID;
// each stream in it a meta file and segments of events, named by the stream
// name in hex:
//
//	HEX.meta          the stream's creation time (replaced atomically)
//	HEX.BASE.events   a segment: one event per line, {"t":TIMESTAMP,
//	                  "i":INGESTION,"m":MESSAGE[,"o":POSITION]}, appended in
//	                  timestamp order; BASE (16 hex digits) is the stream's
//	                  logical offset of its first byte (a legacy HEX.events
//	                  has base 0)
//
// Events are bulk data: an apiserver's audit log is megabytes a minute. In
// etcd they would fill its quota and its raft log and slow every cluster's
// writes; append-only files cost one write per batch, and a stream's events
// being in time order lets a read find a start time by binary search.
// Offsets (in nextTokens) are logical: they stay valid when retention
// removes whole segments from the front. A shipped event carries "o", how
// far its source file had been read, so the events and the position they
// advance are one write (see Shipper).
type eventStore struct {
	dir string
	// segmentBytes and segmentSpan bound a segment (size, and time from its
	// first event): retention removes whole segments.
	segmentBytes int64
	segmentSpan  int64      // ms
	mu           sync.Mutex // serializes appends, meta writes and trims
	repaired     map[string]bool
	faults       faults
}

const (
	defaultSegmentBytes = 16 << 20
	defaultSegmentSpan  = 3600 * 1000
)

// Event is one log event. Position, for a shipped event, is the offset in
// its source file just after its line.
type Event struct {
	Timestamp int64  `json:"t"`
	Ingestion int64  `json:"i"`
	Message   string `json:"m"`
	Position  int64  `json:"o,omitempty"`
}

// streamMeta is a stream's .meta file. Offset is how far a shipped stream's
// source had been read when retention removed its last segment (otherwise
// the last event says it), NextBase the logical offset its next segment
// starts at then.
type streamMeta struct {
	Name         string `json:"name"`
	CreationTime int64  `json:"creationTime"`
	Source       string `json:"source,omitempty"`
	Offset       int64  `json:"offset,omitempty"`
	NextBase     int64  `json:"nextBase,omitempty"`
}

// segment is one file of a stream's events.
type segment struct {
	base, size int64
	path       string
}

func (s *eventStore) groupDir(groupID string) string { return filepath.Join(s.dir, groupID) }

func (s *eventStore) path(groupID, stream, ext string) string {
	return filepath.Join(s.groupDir(groupID), hex.EncodeToString([]byte(stream))+ext)
}

func (s *eventStore) segmentPath(groupID, stream string, base int64) string {
	return s.path(groupID, stream, fmt.Sprintf(".%016x.events", base))
}

func (s *eventStore) readMeta(groupID, stream string) (*streamMeta, error) {
	b, err := os.ReadFile(s.path(groupID, stream, ".meta"))
	if err != nil {
		return nil, err
	}
	var m streamMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func (s *eventStore) writeMeta(groupID string, m *streamMeta) error {
	b, _ := json.Marshal(m)
	return fileutil.WriteFile(s.path(groupID, m.Name, ".meta"), b, 0o600)
}

// segments lists a stream's segments by base.
func (s *eventStore) segments(groupID, stream string) ([]segment, error) {
	entries, err := os.ReadDir(s.groupDir(groupID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	h := hex.EncodeToString([]byte(stream))
	var segs []segment
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), h+".")
		if !ok || !strings.HasSuffix(rest, "events") {
			continue
		}
		base := int64(0)
		if rest != "events" { // legacy HEX.events: base 0
			b, ok := strings.CutSuffix(rest, ".events")
			n, err := strconv.ParseInt(b, 16, 64)
			if !ok || err != nil || len(b) != 16 {
				continue
			}
			base = n
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		segs = append(segs, segment{base: base, size: info.Size(), path: filepath.Join(s.groupDir(groupID), e.Name())})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].base < segs[j].base })
	return segs, nil
}

// ensureStream makes a stream's meta file if it has none.
func (s *eventStore) ensureStream(groupID, stream, source string, created int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.groupDir(groupID), 0o700); err != nil {
		return err
	}
	if _, err := s.readMeta(groupID, stream); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return s.writeMeta(groupID, &streamMeta{Name: stream, CreationTime: created, Source: source})
}

// append adds events (in timestamp order, none older than the stream's
// last) to a stream in one write, making the stream when missing. The last
// segment grows until it reaches segmentBytes or segmentSpan; then the
// events start a new one.
func (s *eventStore) append(groupID, stream string, created int64, events []Event) error {
	if err := s.ensureStream(groupID, stream, "", created); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	segs, err := s.segments(groupID, stream)
	if err != nil {
		return err
	}
	if err := s.repair(groupID, stream, segs); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range events {
		enc.Encode(&events[i]) // a line each
	}
	var path string
	if n := len(segs); n > 0 && !s.full(segs[n-1], events[0].Timestamp) {
		path = segs[n-1].path
	} else {
		base := int64(0)
		if n > 0 {
			base = segs[n-1].base + segs[n-1].size
		} else if m, err := s.readMeta(groupID, stream); err == nil {
			base = m.NextBase
		}
		path = s.segmentPath(groupID, stream, base)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	data := buf.Bytes()
	if err := s.faults.fault(FaultTornAppend); err != nil {
		f.Write(data[:len(data)/2])
		f.Close()
		delete(s.repaired, groupID+"/"+stream)
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.faults.fault(FaultAfterAppend)
	}
	if err != nil {
		delete(s.repaired, groupID+"/"+stream) // what failed may have left a partial line
	}
	return err
}

// full says whether the last segment takes no more events: past its size,
// or its first event older than the span before t.
func (s *eventStore) full(last segment, t int64) bool {
	limit, span := s.segmentBytes, s.segmentSpan
	if limit == 0 {
		limit = defaultSegmentBytes
	}
	if span == 0 {
		span = defaultSegmentSpan
	}
	if last.size >= limit {
		return true
	}
	first, ok := firstTimestamp(last)
	return ok && t-first > span
}

// repair cuts a partial line (a write a crash interrupted) off the end of
// the last segment, once per stream per kplane run, before the first
// append: the next line would otherwise be glued to it.
func (s *eventStore) repair(groupID, stream string, segs []segment) error {
	key := groupID + "/" + stream
	if s.repaired[key] || len(segs) == 0 {
		return nil
	}
	last := segs[len(segs)-1]
	f, err := os.OpenFile(last.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	tail := make([]byte, min(last.size, 4<<20)) // a line is at most ~1.5 MiB (256 KiB, JSON-escaped)
	if _, err := f.ReadAt(tail, last.size-int64(len(tail))); err != nil {
		return err
	}
	if len(tail) > 0 && tail[len(tail)-1] != '\n' {
		keep := last.size - int64(len(tail)) + int64(bytes.LastIndexByte(tail, '\n')+1)
		if err := f.Truncate(keep); err != nil {
			return err
		}
	}
	if s.repaired == nil {
		s.repaired = map[string]bool{}
	}
	s.repaired[key] = true
	return nil
}

// streams lists a group's stream names, sorted.
func (s *eventStore) streams(groupID string) ([]string, error) {
	entries, err := os.ReadDir(s.groupDir(groupID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		h, ok := strings.CutSuffix(e.Name(), ".meta")
		if !ok {
			continue
		}
		if b, err := hex.DecodeString(h); err == nil {
			names = append(names, string(b))
		}
	}
	sort.Strings(names)
	return names, nil
}

// removeGroup deletes a group's event files.
func (s *eventStore) removeGroup(groupID string) error {
	if groupID == "" || strings.ContainsAny(groupID, "/.") {
		return nil
	}
	return os.RemoveAll(s.groupDir(groupID))
}

// edges are a stream's first and last event timestamps, its last ingestion
// time and its stored bytes (zeros when it has no events), and its last
// event.
func (s *eventStore) edges(groupID, stream string) (first, last, ingested, size int64) {
	c, err := s.open(groupID, stream)
	if err != nil || c == nil {
		return 0, 0, 0, 0
	}
	defer c.close()
	size = c.stored()
	c.seek(c.start())
	if ev, _, ok := c.next(); ok {
		first = ev.Timestamp
	}
	if ev, ok := c.lastEvent(); ok {
		last, ingested = ev.Timestamp, ev.Ingestion
	}
	return first, last, ingested, size
}
