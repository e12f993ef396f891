package cwlogs

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/paging"
	"github.com/kplane/kplane/internal/store"
)

const (
	maxEvents = 10000
	// scanBudget bounds the events one FilterLogEvents page reads; past it
	// the page ends early with a nextToken, as CloudWatch's do.
	scanBudget = 200000
)

// retentionCutoff is the oldest timestamp a group's retention keeps.
func (s *Service) retentionCutoff(g *store.LogGroup) int64 {
	if g.RetentionInDays == nil {
		return 0
	}
	return s.now().Add(-time.Duration(*g.RetentionInDays) * 24 * time.Hour).UnixMilli()
}

type logStreamOut struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp *int64 `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  *int64 `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   *int64 `json:"lastIngestionTime,omitempty"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

func (s *Service) describeLogStreams(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupName        *string `json:"logGroupName"`
		LogGroupIdentifier  *string `json:"logGroupIdentifier"`
		LogStreamNamePrefix *string `json:"logStreamNamePrefix"`
		OrderBy             *string `json:"orderBy"`
		Descending          bool    `json:"descending"`
		NextToken           *string `json:"nextToken"`
		Limit               *int    `json:"limit"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Range("limit", in.Limit, 1, 50)
	if in.OrderBy != nil && *in.OrderBy != "LogStreamName" && *in.OrderBy != "LastEventTime" {
		v.Fail("orderBy", *in.OrderBy, "Member must satisfy enum value set: [LogStreamName, LastEventTime]")
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	byTime := in.OrderBy != nil && *in.OrderBy == "LastEventTime"
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	g, e := s.groupOf(c.R.Context(), in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	names, err := s.events.streams(g.ID)
	if err != nil {
		return nil, unavailable(err)
	}
	var all []logStreamOut
	for _, n := range names {
		if in.LogStreamNamePrefix != nil && !strings.HasPrefix(n, *in.LogStreamNamePrefix) {
			continue
		}
		all = append(all, s.streamOut(g, n))
	}
	// Streams page by name, or by last event time then name, so that a
	// stream deleted at a page's end does not shift the next page.
	key := func(o logStreamOut) string { return o.LogStreamName }
	if byTime {
		key = func(o logStreamOut) string {
			return fmt.Sprintf("%020d/%s", ptr0(o.LastEventTimestamp), o.LogStreamName)
		}
	}
	order := strings.Compare
	if in.Descending {
		order = func(a, b string) int { return strings.Compare(b, a) }
	}
	after := ""
	if in.NextToken != nil {
		var ok bool
		if after, ok = streamsToken.Decode(*in.NextToken); !ok || after == "" {
			return nil, invalid("The specified nextToken is invalid.")
		}
	}
	limit := 50
	if in.Limit != nil {
		limit = *in.Limit
	}
	out, resume := paging.PageBy(all, key, order, after, limit)
	var next *string
	if resume != "" {
		t := streamsToken.Encode(resume)
		next = &t
	}
	if out == nil {
		out = []logStreamOut{}
	}
	return struct {
		LogStreams []logStreamOut `json:"logStreams"`
		NextToken  *string        `json:"nextToken,omitempty"`
	}{out, next}, nil
}

// streamsToken is DescribeLogStreams' nextToken: the key of the page's last stream.
var streamsToken = paging.Token{Prefix: "s/"}

func ptr0(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func (s *Service) streamOut(g *store.LogGroup, name string) logStreamOut {
	o := logStreamOut{LogStreamName: name, Arn: fmt.Sprintf("%s:log-stream:%s", s.groupArn(g.Name), name)}
	if m, err := s.events.readMeta(g.ID, name); err == nil {
		o.CreationTime = m.CreationTime
	}
	first, last, ingested, size := s.events.edges(g.ID, name)
	o.StoredBytes = size
	if size > 0 {
		o.FirstEventTimestamp, o.LastEventTimestamp, o.LastIngestionTime = &first, &last, &ingested
	}
	return o
}

type outputEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

func (s *Service) getLogEvents(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupName       *string `json:"logGroupName"`
		LogGroupIdentifier *string `json:"logGroupIdentifier"`
		LogStreamName      *string `json:"logStreamName"`
		StartTime          *int64  `json:"startTime"`
		EndTime            *int64  `json:"endTime"`
		NextToken          *string `json:"nextToken"`
		Limit              *int    `json:"limit"`
		StartFromHead      *bool   `json:"startFromHead"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("logStreamName", in.LogStreamName != nil)
	v.Range("limit", in.Limit, 1, maxEvents)
	if e := v.Err(); e != nil {
		return nil, e
	}
	g, e := s.groupOf(c.R.Context(), in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	if _, err := s.events.readMeta(g.ID, *in.LogStreamName); err != nil {
		return nil, awsjson.Errorf("ResourceNotFoundException", "The specified log stream does not exist.")
	}
	limit := maxEvents
	if in.Limit != nil {
		limit = *in.Limit
	}
	from, to := max(ptr0(in.StartTime), s.retentionCutoff(g)), int64(1<<62)
	if in.EndTime != nil {
		to = *in.EndTime
	}
	// Tokens are f/OFFSET (read forward from OFFSET) and b/OFFSET (the
	// events before OFFSET).
	forward, startAt, endAt := in.StartFromHead != nil && *in.StartFromHead, int64(-1), int64(1<<62)
	if in.NextToken != nil {
		dir, n, ok := strings.Cut(*in.NextToken, "/")
		off, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || off < 0 || (dir != "f" && dir != "b") {
			return nil, invalid("The specified nextToken is invalid.")
		}
		if forward = dir == "f"; forward {
			startAt = off
		} else {
			endAt = off
		}
	}
	cur, err := s.events.open(g.ID, *in.LogStreamName)
	if err != nil {
		return nil, unavailable(err)
	}
	defer cur.close()
	events := []outputEvent{}
	var starts, ends []int64 // byte range of each event returned
	stop := int64(0)
	if cur != nil {
		if startAt >= 0 {
			cur.seek(startAt)
		} else {
			cur.seekTime(from)
		}
		for {
			ev, at, ok := cur.next()
			if !ok || ev.Timestamp > to || at >= endAt {
				break
			}
			if ev.Timestamp < from {
				continue
			}
			events = append(events, outputEvent{ev.Timestamp, ev.Message, ev.Ingestion})
			starts, ends = append(starts, at), append(ends, cur.off)
			if forward && len(events) == limit {
				break
			}
			if !forward && len(events) > limit { // keep the last limit events
				events, starts, ends = events[1:], starts[1:], ends[1:]
			}
		}
		stop = cur.off
	}
	fwd, back := fmt.Sprintf("f/%d", stop), fmt.Sprintf("b/%d", stop)
	if len(events) > 0 {
		fwd, back = fmt.Sprintf("f/%d", ends[len(ends)-1]), fmt.Sprintf("b/%d", starts[0])
	} else if in.NextToken != nil {
		fwd, back = *in.NextToken, *in.NextToken // the end, as CloudWatch says it: the same token again
	}
	return struct {
		Events            []outputEvent `json:"events"`
		NextForwardToken  string        `json:"nextForwardToken"`
		NextBackwardToken string        `json:"nextBackwardToken"`
	}{events, fwd, back}, nil
}

type filteredEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

func (s *Service) filterLogEvents(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		LogGroupName        *string  `json:"logGroupName"`
		LogGroupIdentifier  *string  `json:"logGroupIdentifier"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix *string  `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       *string  `json:"filterPattern"`
		NextToken           *string  `json:"nextToken"`
		Limit               *int     `json:"limit"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Range("limit", in.Limit, 1, maxEvents)
	if in.FilterPattern != nil {
		v.Length("filterPattern", *in.FilterPattern, 0, 1024)
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	if in.LogStreamNames != nil && in.LogStreamNamePrefix != nil {
		return nil, invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	pat := pattern{}
	if in.FilterPattern != nil {
		var ok bool
		if pat, ok = parsePattern(*in.FilterPattern); !ok {
			return nil, invalid("Invalid filter pattern (kplane supports terms, \"quoted phrases\", ?any and -exclude): %s", *in.FilterPattern)
		}
	}
	g, e := s.groupOf(c.R.Context(), in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	names, err := s.events.streams(g.ID)
	if err != nil {
		return nil, unavailable(err)
	}
	var wanted []string
	for _, n := range names {
		if in.LogStreamNamePrefix != nil && !strings.HasPrefix(n, *in.LogStreamNamePrefix) {
			continue
		}
		if in.LogStreamNames != nil && !contains(in.LogStreamNames, n) {
			continue
		}
		wanted = append(wanted, n)
	}
	// The token holds each stream's offset to read on from.
	offsets := map[string]int64{}
	if in.NextToken != nil {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || json.Unmarshal(b, &offsets) != nil {
			return nil, invalid("The specified nextToken is invalid.")
		}
	}
	limit := maxEvents
	if in.Limit != nil {
		limit = *in.Limit
	}
	from, to := max(ptr0(in.StartTime), s.retentionCutoff(g)), int64(1<<62)
	if in.EndTime != nil {
		to = *in.EndTime
	}
	var heads []*head
	defer func() {
		for _, h := range heads {
			h.cur.close()
		}
	}()
	for _, n := range wanted {
		off, resumed := offsets[n]
		if in.NextToken != nil && !resumed {
			continue // finished on an earlier page
		}
		cur, err := s.events.open(g.ID, n)
		if err != nil {
			return nil, unavailable(err)
		}
		if cur == nil {
			continue
		}
		if resumed {
			cur.seek(off)
		} else {
			cur.seekTime(from)
		}
		h := &head{name: n, cur: cur}
		h.ev, h.at, h.ok = cur.nextRaw()
		heads = append(heads, h)
	}
	events := []filteredEvent{}
	scanned := 0
	for len(events) < limit && scanned < scanBudget {
		var best *head
		for _, h := range heads {
			if h.ok && h.ev.ts <= to && (best == nil || h.ev.ts < best.ev.ts) {
				best = h
			}
		}
		if best == nil {
			break
		}
		scanned++
		if best.ev.ts >= from {
			if msg, match, ok := pat.matchRaw(&best.ev); ok && match {
				events = append(events, filteredEvent{best.name, best.ev.ts, msg, best.ev.ingestion,
					hex.EncodeToString([]byte(best.name))[:min(16, 2*len(best.name))] + fmt.Sprintf("%016d", best.at)})
			}
		}
		best.ev, best.at, best.ok = best.cur.nextRaw()
	}
	var next *string
	rest := map[string]int64{}
	for _, h := range heads {
		if h.ok && h.ev.ts <= to {
			rest[h.name] = h.at
		}
	}
	if len(rest) > 0 {
		b, _ := json.Marshal(rest)
		t := base64.RawURLEncoding.EncodeToString(b)
		next = &t
	}
	searched := []map[string]any{}
	for _, n := range wanted {
		_, more := rest[n]
		searched = append(searched, map[string]any{"logStreamName": n, "searchedCompletely": !more})
	}
	return struct {
		Events             []filteredEvent  `json:"events"`
		SearchedLogStreams []map[string]any `json:"searchedLogStreams"`
		NextToken          *string          `json:"nextToken,omitempty"`
	}{events, searched, next}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
