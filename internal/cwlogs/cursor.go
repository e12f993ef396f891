package cwlogs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sort"
	"strings"
)

// cursor reads a stream's events from a logical offset, across its
// segments.
type cursor struct {
	segs []segment
	i    int // segment open in f
	f    *os.File
	r    *bufio.Reader
	off  int64 // logical offset of the next line
	long []byte
}

// open returns a cursor over the stream's segments, nil if it has none.
func (s *eventStore) open(groupID, stream string) (*cursor, error) {
	segs, err := s.segments(groupID, stream)
	if err != nil || len(segs) == 0 {
		return nil, err
	}
	return &cursor{segs: segs, i: -1}, nil
}

func (c *cursor) close() {
	if c != nil && c.f != nil {
		c.f.Close()
	}
}

// start is the logical offset of the oldest byte still stored.
func (c *cursor) start() int64 { return c.segs[0].base }

// stored is how many bytes the stream's segments hold.
func (c *cursor) stored() int64 {
	n := int64(0)
	for _, s := range c.segs {
		n += s.size
	}
	return n
}

// seek places the cursor at logical offset off (at the oldest stored byte
// when off was removed by retention).
func (c *cursor) seek(off int64) {
	i := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].base > off }) - 1
	if i < 0 {
		i, off = 0, c.segs[0].base
	}
	c.place(i, off)
}

func (c *cursor) place(i int, off int64) {
	if i != c.i {
		if c.f != nil {
			c.f.Close()
		}
		f, err := os.Open(c.segs[i].path)
		if err != nil { // removed by retention meanwhile: reads as empty
			f, _ = os.Open(os.DevNull)
		}
		c.f, c.i = f, i
	}
	c.f.Seek(off-c.segs[i].base, io.SeekStart)
	if c.r == nil {
		c.r = bufio.NewReaderSize(c.f, 64<<10)
	} else {
		c.r.Reset(c.f)
	}
	c.off = off
}

// readLine reads the next whole line; ok is false at the end of the segment
// (a partial line, still being written, is left unread).
func (c *cursor) readLine() (line []byte, ok bool) {
	line, err := c.r.ReadSlice('\n')
	if err == nil {
		return line, true
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, false
	}
	c.long = append(c.long[:0], line...)
	for {
		more, err := c.r.ReadSlice('\n')
		c.long = append(c.long, more...)
		if err == nil {
			return c.long, true
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false
		}
	}
}

// nextLine reads the line at the cursor, going on into the next segment
// at the end of one; ok is false at the end of the last.
func (c *cursor) nextLine() (line []byte, at int64, ok bool) {
	for {
		line, ok := c.readLine()
		if ok {
			at = c.off
			c.off += int64(len(line))
			return line, at, true
		}
		if c.i+1 >= len(c.segs) {
			c.place(c.i, c.off) // unread the partial line
			return nil, 0, false
		}
		c.place(c.i+1, c.segs[c.i+1].base)
	}
}

// next reads the event at the cursor; ok is false at the end.
func (c *cursor) next() (ev Event, at int64, ok bool) {
	for {
		line, at, ok := c.nextLine()
		if !ok {
			return Event{}, 0, false
		}
		if parseLine(line, &ev) {
			return ev, at, true
		}
	}
}

// nextRaw is next with the message left undecoded.
func (c *cursor) nextRaw() (r rawEvent, at int64, ok bool) {
	for {
		line, at, ok := c.nextLine()
		if !ok {
			return rawEvent{}, 0, false
		}
		if r, ok := parseRaw(line); ok {
			return r, at, true
		}
		var ev Event
		if json.Unmarshal(line, &ev) == nil {
			return rawEvent{ts: ev.Timestamp, ingestion: ev.Ingestion, position: ev.Position, decoded: &ev.Message}, at, true
		}
	}
}

// skipPartial places the cursor at the first line that starts after
// offset from (the rest of the line from falls in).
func (c *cursor) skipPartial(from int64) bool {
	c.seek(from)
	partial, ok := c.readLine()
	if !ok {
		return false
	}
	c.off = from + int64(len(partial))
	return true
}

// seekTime places the cursor at or before the first event at or after t:
// the segment by the first timestamps of the segments, then by binary
// search over that segment's bytes (a stream is in timestamp order).
func (c *cursor) seekTime(t int64) {
	k := sort.Search(len(c.segs), func(i int) bool {
		first, ok := firstTimestamp(c.segs[i])
		return !ok || first >= t
	}) - 1
	k = max(k, 0)
	lo, hi := c.segs[k].base, c.segs[k].base+c.segs[k].size
	for hi-lo > 32<<10 {
		mid := (lo + hi) / 2
		ts, at, ok := c.probe(k, mid)
		if !ok || at >= hi {
			hi = mid
			continue
		}
		if ts < t {
			lo = at
		} else {
			hi = mid
		}
	}
	c.seek(lo)
}

// probe reads the timestamp of the first line that starts after offset off
// of segment k, and where it starts: one small read, or the buffered reader
// for a line longer than it.
func (c *cursor) probe(k int, off int64) (ts, at int64, ok bool) {
	c.place(k, c.segs[k].base)
	var buf [8 << 10]byte
	n, _ := c.f.ReadAt(buf[:], off-c.segs[k].base)
	b := buf[:n]
	if nl := bytes.IndexByte(b, '\n'); nl >= 0 && bytes.IndexByte(b[nl+1:], '\n') >= 0 {
		if rest, found := bytes.CutPrefix(b[nl+1:], []byte(`{"t":`)); found {
			if ts, _, ok := cutInt(rest); ok {
				return ts, off + int64(nl) + 1, true
			}
		}
	}
	if !c.skipPartial(off) {
		return 0, 0, false
	}
	ev, at, ok := c.next()
	return ev.Timestamp, at, ok
}

// lastEvent is the stream's newest event, read from the end of its last
// segment that has one.
func (c *cursor) lastEvent() (Event, bool) {
	for i := len(c.segs) - 1; i >= 0; i-- {
		seg := c.segs[i]
		end := seg.base + seg.size
		for window := int64(64 << 10); ; window *= 4 {
			from := max(seg.base, end-window)
			if from > seg.base {
				c.skipPartial(from)
			} else {
				c.seek(seg.base)
			}
			var last Event
			found := false
			for {
				ev, at, ok := c.next()
				if !ok || at >= end {
					break
				}
				last, found = ev, true
			}
			if found {
				return last, true
			}
			if from == seg.base {
				break
			}
		}
	}
	return Event{}, false
}

// firstTimestamp reads a segment's first event's timestamp.
func firstTimestamp(seg segment) (int64, bool) {
	f, err := os.Open(seg.path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 4<<10).ReadBytes('\n')
	var ev Event
	if err != nil || !parseLine(line, &ev) {
		return 0, false
	}
	return ev.Timestamp, true
}

// parseLine decodes an event line. Lines as kplane writes them
// ({"t":N,"i":N,"m":"...","o":N}) are read without encoding/json, which
// would cost most of a scan's time; anything else goes through it.
func parseLine(line []byte, ev *Event) bool {
	if r, ok := parseRaw(line); ok {
		if msg, ok := r.message(); ok {
			*ev = Event{Timestamp: r.ts, Ingestion: r.ingestion, Message: msg, Position: r.position}
			return true
		}
	}
	*ev = Event{}
	return json.Unmarshal(line, ev) == nil
}

// rawEvent is an event line with its numbers read and its message not yet
// decoded: a scan decodes only the messages its terms may be in.
type rawEvent struct {
	ts, ingestion, position int64
	msg                     []byte // the JSON string's body, escapes and all
	escaped                 bool
	decoded                 *string // a line of another form, decoded whole
}

func parseRaw(line []byte) (r rawEvent, ok bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"t":`))
	if !ok {
		return r, false
	}
	if r.ts, rest, ok = cutInt(rest); !ok {
		return r, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"i":`)); !ok {
		return r, false
	}
	if r.ingestion, rest, ok = cutInt(rest); !ok {
		return r, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"m":"`)); !ok {
		return r, false
	}
	// The message ends at the line's last quote: after it come only the
	// position and the brace. One search for a backslash then says whether
	// it needs unescaping.
	rest = bytes.TrimRight(rest, "\n")
	if len(rest) < 2 || rest[len(rest)-1] != '}' {
		return r, false
	}
	rest = rest[:len(rest)-1]
	q := bytes.LastIndexByte(rest, '"')
	if q < 0 {
		return r, false
	}
	if tail := rest[q+1:]; len(tail) > 0 {
		after, ok := bytes.CutPrefix(tail, []byte(`,"o":`))
		if !ok {
			return r, false
		}
		if r.position, after, ok = cutInt(after); !ok || len(after) > 0 {
			return r, false
		}
	}
	r.msg = rest[:q]
	r.escaped = bytes.IndexByte(r.msg, '\\') >= 0
	return r, true
}

// message decodes the message: its bytes as they are when nothing in it
// was escaped, else through a small unescaper (\u escapes go to
// encoding/json).
func (r *rawEvent) message() (string, bool) {
	if r.decoded != nil {
		return *r.decoded, true
	}
	if !r.escaped {
		return string(r.msg), true
	}
	out := make([]byte, 0, len(r.msg))
	for i := 0; i < len(r.msg); i++ {
		c := r.msg[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i++; i == len(r.msg) {
			return "", false
		}
		switch r.msg[i] {
		case '"', '\\', '/':
			out = append(out, r.msg[i])
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		default:
			var s string
			if json.Unmarshal(append(append([]byte{'"'}, r.msg...), '"'), &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(out), true
}

// mayContain says whether the message may contain term: a term with
// nothing JSON escapes appears in the raw line when it appears in the
// message (the converse need not hold).
func (r *rawEvent) mayContain(term string) bool {
	if r.decoded != nil {
		return strings.Contains(*r.decoded, term)
	}
	if strings.ContainsAny(term, "\"\\") || strings.IndexFunc(term, func(c rune) bool { return c < 0x20 || c == 0x2028 || c == 0x2029 }) >= 0 {
		return true
	}
	return bytes.Contains(r.msg, []byte(term))
}

// cutInt reads a decimal integer at the start of b.
func cutInt(b []byte) (int64, []byte, bool) {
	neg := len(b) > 0 && b[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	start := i
	var v int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 18; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	if i == start || i < len(b) && b[i] >= '0' && b[i] <= '9' {
		return 0, b, false
	}
	if neg {
		v = -v
	}
	return v, b[i:], true
}
