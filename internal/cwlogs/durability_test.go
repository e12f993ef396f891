package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// A crash right after a batch is written, or in the middle of writing it,
// costs no line and ships none twice: the position is in the batch itself,
// and a torn last line is cut off before the next append.
func TestShipperExactlyOnceAcrossCrashes(t *testing.T) {
	for _, point := range []FaultPoint{FaultAfterAppend, FaultTornAppend} {
		t.Run(string(point), func(t *testing.T) {
			e := newTestEnv(t)
			src := filepath.Join(e.dir, "api.log")
			os.WriteFile(src, []byte("one\ntwo\n"), 0o600)
			rec := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "demo", ID: "id-1", Status: "ACTIVE"}}
			svc := e.svc
			ship := func() error {
				sh := &Shipper{Service: svc, Store: e.st, Files: func(*store.ClusterRecord) map[string][]string {
					return map[string][]string{"api": {src}}
				}}
				return sh.ShipCluster(context.Background(), rec)
			}
			if err := ship(); err != nil {
				t.Fatal(err)
			}
			appendTo(t, src, "three\nfour\n")
			crash := errors.New("crash")
			svc.InjectFault(point, func() error { return crash })
			if err := ship(); !errors.Is(err, crash) {
				t.Fatalf("ship with %q: %v", point, err)
			}
			// kplane starts again: a new Service and Shipper on the same files.
			svc = New(e.st, e.dir, "000000000000", "us-west-2")
			e.svc, e.ops = svc, svc.Handler(nil, nil)
			if err := ship(); err != nil {
				t.Fatal(err)
			}
			appendTo(t, src, "five\n")
			if err := ship(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range filterAll(e, `"logGroupName":"/aws/eks/demo/cluster"`) {
				got = append(got, ev["message"].(string))
			}
			if strings.Join(got, "|") != "one|two|three|four|five" {
				t.Fatalf("after a crash %s: %q, want each line once", point, got)
			}
		})
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(text)
	f.Close()
}

// PutRetentionPolicy removes expired segments from disk (with a fake clock):
// what is left is the retention's events, readable, and tokens taken before
// still page on; a stream trimmed empty keeps its offsets and its shipping
// position.
func TestRetentionTrimsDisk(t *testing.T) {
	e := newTestEnv(t)
	e.svc.events.segmentBytes = 4 << 10
	day := int64(24 * 3600 * 1000)
	now := time.UnixMilli(100 * day)
	e.svc.now = func() time.Time { return now }
	e.must("CreateLogGroup", `{"logGroupName":"g"}`)
	for d := int64(90); d < 100; d++ { // 10 days, 100 events each
		var msgs []string
		for i := 0; i < 100; i++ {
			msgs = append(msgs, fmt.Sprintf("day %d event %d", d, i))
		}
		e.put("g", "s", d*day, msgs...)
	}
	g, _ := e.st.GetLogGroup(context.Background(), "g")
	before, _ := e.svc.events.segments(g.ID, "s")
	if len(before) < 10 {
		t.Fatalf("%d segments, want one per 4 KiB at least", len(before))
	}
	page := e.must("GetLogEvents", `{"logGroupName":"g","logStreamName":"s","startFromHead":true,"limit":5}`)
	oldToken := page["nextForwardToken"].(string)

	e.must("PutRetentionPolicy", `{"logGroupName":"g","retentionInDays":3}`) // keeps days 97..99
	after, _ := e.svc.events.segments(g.ID, "s")
	if len(after) >= len(before) || len(after) == 0 {
		t.Fatalf("segments %d -> %d", len(before), len(after))
	}
	cutoff := 97 * day
	if first, _ := firstTimestamp(after[0]); first >= cutoff {
		t.Fatalf("trimmed too much: first kept event at %d", first)
	}
	if len(after) > 1 {
		if next, _ := firstTimestamp(after[1]); next < cutoff {
			t.Fatalf("a segment of expired events stayed (next starts %d < %d)", next, cutoff)
		}
	}
	all := filterAll(e, `"logGroupName":"g"`)
	if len(all) != 300 || all[0]["message"] != "day 97 event 0" {
		t.Fatalf("after trim: %d events, first %v", len(all), all[0]["message"])
	}
	resumed := e.must("GetLogEvents", `{"logGroupName":"g","logStreamName":"s","nextToken":"`+oldToken+`","limit":1}`)
	if evs := resumed["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["message"] != "day 97 event 0" {
		t.Fatalf("old token after trim: %v", resumed)
	}

	// Everything expires: no segment is left, and an append goes on from
	// where the stream ended.
	end := after[len(after)-1].base + after[len(after)-1].size
	now = time.UnixMilli(110 * day)
	if err := e.svc.Trim(context.Background()); err != nil {
		t.Fatal(err)
	}
	if segs, _ := e.svc.events.segments(g.ID, "s"); len(segs) != 0 {
		t.Fatalf("%d segments left after all expired", len(segs))
	}
	e.put("g", "s", 110*day, "fresh")
	segs, _ := e.svc.events.segments(g.ID, "s")
	if len(segs) != 1 || segs[0].base != end {
		t.Fatalf("new segment %+v, want base %d", segs, end)
	}
	if all := filterAll(e, `"logGroupName":"g"`); len(all) != 1 || all[0]["message"] != "fresh" {
		t.Fatalf("after all expired: %v", all)
	}
}

// WriteLog (kplane logs) prints one type's shipped lines from the store,
// every replica's stream merged by time, and not another type's whose
// prefix starts the same (kube-apiserver- and kube-apiserver-audit-).
func TestWriteLogReadsTheStore(t *testing.T) {
	e := newTestEnv(t)
	dir := e.dir
	files := map[string][]string{
		"api":   {filepath.Join(dir, "a.api.log"), filepath.Join(dir, "b.api.log")},
		"audit": {filepath.Join(dir, "a.audit.log")},
	}
	os.WriteFile(files["api"][0], []byte("api a1\n"), 0o600)
	os.WriteFile(files["api"][1], []byte("api b1\n"), 0o600)
	os.WriteFile(files["audit"][0], []byte(`{"kind":"Event"}`+"\n"), 0o600)
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "demo", ID: "id-1", Status: "ACTIVE"}}
	now := time.UnixMilli(1_000_000)
	e.svc.now = func() time.Time { return now }
	sh := &Shipper{Service: e.svc, Store: e.st, Files: func(*store.ClusterRecord) map[string][]string { return files }}
	if err := sh.ShipCluster(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	appendTo(t, files["api"][0], "api a2\n")
	if err := sh.ShipCluster(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := e.svc.WriteLog(context.Background(), &out, "demo", "api"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || lines[2] != "api a2" || strings.Contains(out.String(), "Event") {
		t.Fatalf("kplane logs demo api: %q", out.String())
	}
	out.Reset()
	if err := e.svc.WriteLog(context.Background(), &out, "demo", "audit"); err != nil || out.String() != `{"kind":"Event"}`+"\n" {
		t.Fatalf("kplane logs demo audit: %q %v", out.String(), err)
	}
	if err := e.svc.WriteLog(context.Background(), &out, "demo", "scheduler"); !errors.Is(err, ErrNoLog) {
		t.Fatalf("a type never shipped: %v", err)
	}
	if err := e.svc.WriteLog(context.Background(), &out, "other", "api"); !errors.Is(err, ErrNoLog) {
		t.Fatalf("a cluster with no group: %v", err)
	}
}
