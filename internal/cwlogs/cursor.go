package cwlogs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sort"
	"strconv"
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

// next reads the event at the cursor; ok is false at the end.
func (c *cursor) next() (ev Event, at int64, ok bool) {
	for {
		line, ok := c.readLine()
		if !ok {
			if c.i+1 < len(c.segs) {
				c.place(c.i+1, c.segs[c.i+1].base)
				continue
			}
			c.place(c.i, c.off) // unread the partial line
			return Event{}, 0, false
		}
		at = c.off
		c.off += int64(len(line))
		if parseLine(line, &ev) {
			return ev, at, true
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
		if !c.skipPartial(mid) {
			hi = mid
			continue
		}
		ev, at, ok := c.next()
		if !ok || at >= hi {
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
// ({"t":N,"i":N,"m":"...","o":N} with no escapes in the message) are read
// without encoding/json, which would cost most of a scan's time; anything
// else goes through it.
func parseLine(line []byte, ev *Event) bool {
	if fastParse(line, ev) {
		return true
	}
	*ev = Event{}
	return json.Unmarshal(line, ev) == nil
}

func fastParse(line []byte, ev *Event) bool {
	rest, ok := bytes.CutPrefix(line, []byte(`{"t":`))
	if !ok {
		return false
	}
	if ev.Timestamp, rest, ok = cutInt(rest); !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"i":`)); !ok {
		return false
	}
	if ev.Ingestion, rest, ok = cutInt(rest); !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"m":"`)); !ok {
		return false
	}
	end := bytes.IndexAny(rest, `"\`)
	if end < 0 || rest[end] != '"' {
		return false
	}
	msg := rest[:end]
	rest = rest[end+1:]
	ev.Position = 0
	if r, ok := bytes.CutPrefix(rest, []byte(`,"o":`)); ok {
		if ev.Position, rest, ok = cutInt(r); !ok {
			return false
		}
	}
	if string(bytes.TrimRight(rest, "\n")) != "}" {
		return false
	}
	ev.Message = string(msg)
	return true
}

// cutInt reads a decimal integer at the start of b.
func cutInt(b []byte) (int64, []byte, bool) {
	n := 0
	for n < len(b) && (b[n] >= '0' && b[n] <= '9' || n == 0 && b[n] == '-') {
		n++
	}
	v, err := strconv.ParseInt(string(b[:n]), 10, 64)
	return v, b[n:], err == nil
}
