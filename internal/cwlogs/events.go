package cwlogs

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kplane/kplane/internal/fileutil"
)

// Event files. Each log group has a directory DATA_DIR/cloudwatch-logs/ID;
// each stream in it two files named by the stream name in hex:
//
//	HEX.events  one event per line, {"t":TIMESTAMP,"i":INGESTION,"m":MESSAGE},
//	            appended in timestamp order (kplane is the only writer)
//	HEX.meta    the stream's creation time and, for a shipped stream, how far
//	            its source file has been read (replaced atomically)
//
// Events are bulk data: an apiserver's audit log is megabytes a minute. In
// etcd they would fill its quota and its raft log and slow every cluster's
// writes; append-only files cost one write per batch, and a stream's events
// being in time order lets a read find a start time by binary search.
type eventStore struct {
	dir string
	mu  sync.Mutex // serializes appends and meta writes
}

// Event is one log event.
type Event struct {
	Timestamp int64  `json:"t"`
	Ingestion int64  `json:"i"`
	Message   string `json:"m"`
}

// streamMeta is a stream's .meta file.
type streamMeta struct {
	Name         string `json:"name"`
	CreationTime int64  `json:"creationTime"`
	Source       string `json:"source,omitempty"`
	Offset       int64  `json:"offset,omitempty"`
}

func (s *eventStore) groupDir(groupID string) string { return filepath.Join(s.dir, groupID) }

func (s *eventStore) path(groupID, stream, ext string) string {
	return filepath.Join(s.groupDir(groupID), hex.EncodeToString([]byte(stream))+ext)
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

// append adds events (in timestamp order, none older than the stream's
// last) to a stream, making it when missing, then records meta (if not nil)
// as the stream's meta: the events are on disk before the offset that says
// they were read.
func (s *eventStore) append(groupID string, meta *streamMeta, events []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.groupDir(groupID), 0o700); err != nil {
		return err
	}
	if len(events) > 0 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for i := range events {
			enc.Encode(&events[i]) // a line each
		}
		f, err := os.OpenFile(s.path(groupID, meta.Name, ".events"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(buf.Bytes())
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return s.writeMeta(groupID, meta)
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

// cursor reads a stream's events from a byte offset.
type cursor struct {
	f   *os.File
	r   *bufio.Reader
	off int64 // of the next line
}

func (s *eventStore) open(groupID, stream string) (*cursor, int64, error) {
	f, err := os.Open(s.path(groupID, stream, ".events"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil // a stream with no events yet
	} else if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return &cursor{f: f}, info.Size(), nil
}

func (c *cursor) close() {
	if c != nil {
		c.f.Close()
	}
}

func (c *cursor) seek(off int64) {
	c.off = off
	c.f.Seek(off, io.SeekStart)
	if c.r == nil {
		c.r = bufio.NewReaderSize(c.f, 64<<10)
	} else {
		c.r.Reset(c.f)
	}
}

// next reads the event at the cursor; ok is false at the end (a partial
// last line, being written, counts as the end).
func (c *cursor) next() (ev Event, at int64, ok bool) {
	for {
		line, err := c.r.ReadBytes('\n')
		if err != nil {
			c.seek(c.off) // unread the partial line
			return Event{}, 0, false
		}
		at = c.off
		c.off += int64(len(line))
		if json.Unmarshal(line, &ev) == nil {
			return ev, at, true
		}
	}
}

// seekTime places the cursor at or before the first event at or after t,
// by binary search over the file's bytes (a stream is in timestamp order).
func (c *cursor) seekTime(size, t int64) {
	lo, hi := int64(0), size
	for hi-lo > 32<<10 {
		mid := (lo + hi) / 2
		if !c.skipPartial(mid) {
			hi = mid
			continue
		}
		ev, at, ok := c.next()
		if !ok {
			hi = mid
			continue
		}
		if ev.Timestamp < t {
			lo = at
		} else {
			hi = mid
		}
	}
	c.seek(lo)
}

// skipPartial places the cursor at the first line that starts after
// offset from (the rest of the line from falls in).
func (c *cursor) skipPartial(from int64) bool {
	c.seek(from)
	partial, err := c.r.ReadBytes('\n')
	if err != nil {
		return false
	}
	c.off = from + int64(len(partial))
	return true
}

// edges are a stream's first and last event timestamps, and its last
// ingestion time (zero when it has no events).
func (s *eventStore) edges(groupID, stream string) (first, last, ingested, size int64) {
	c, size, err := s.open(groupID, stream)
	if err != nil || c == nil {
		return 0, 0, 0, 0
	}
	defer c.close()
	c.seek(0)
	if ev, _, ok := c.next(); ok {
		first = ev.Timestamp
	}
	from := size - 256<<10
	if from < 0 {
		from = 0
	}
	if from > 0 {
		c.skipPartial(from)
	} else {
		c.seek(0)
	}
	for {
		ev, _, ok := c.next()
		if !ok {
			break
		}
		last, ingested = ev.Timestamp, ev.Ingestion
	}
	return first, last, ingested, size
}
