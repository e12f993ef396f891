// Command logsbench measures CloudWatch Logs reads over a large group:
// FilterLogEvents over 1,000,000 events in 4 streams (as an apiserver's
// replicas ship them), each page against a floor measured in the same
// invocation on the same files.
//
//	go run ./bench/logsbench [--events 1000000] [--rounds 50]
//
// What it measures, each --rounds times, shuffled:
//   - a filtered page: FilterLogEvents with a term found in 1 event in
//     10,000, from the start; a page ends after 10,000 matches or 200,000
//     events read (CloudWatch's pages also end early), so this is the cost
//     of scanning 200,000 events. Floor: reading the same bytes line by line
//     with bytes.Contains (no decoding, no merge).
//   - a time-range query: FilterLogEvents for a random 100 ms window (400
//     events) anywhere in the group. Floors: reading that many lines from a
//     known offset of one stream (no search, no merge, no etcd), and a call
//     that only reads the group's record from etcd (ListTagsForResource),
//     which every call on a group pays.
//
// It runs kplane's cwlogs in-process on an embedded etcd in a temp dir
// (the HTTP and SigV4 cost of a call is apibench's subject), and removes
// the dir when it ends.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/cwlogs"
	"github.com/kplane/kplane/internal/store"
)

const (
	group   = "/aws/eks/bench/cluster"
	streams = 4
	rare    = "RAREMARK"
)

func main() {
	events := flag.Int("events", 1_000_000, "events in the group")
	rounds := flag.Int("rounds", 50, "measurements of each query")
	flag.Parse()
	if err := run(*events, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "logsbench:", err)
		os.Exit(1)
	}
}

func run(total, rounds int) error {
	dir, err := os.MkdirTemp("", "logsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer st.Close()
	svc := cwlogs.New(st, dir, "000000000000", "us-west-2")
	ops := svc.Handler(nil, nil).Ops
	call := func(op, body string) (map[string]any, error) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		out, e := ops[op](&awsjson.Call{R: r, Body: []byte(body), Op: op})
		if e != nil {
			return nil, fmt.Errorf("%s: %s: %s", op, e.Type, e.Message)
		}
		b, _ := json.Marshal(out)
		var m map[string]any
		return m, json.Unmarshal(b, &m)
	}
	if _, err := call("CreateLogGroup", `{"logGroupName":"`+group+`"}`); err != nil {
		return err
	}

	// Fill: audit-like lines, 4 events per ms spread over the streams.
	start := time.Now()
	t0 := int64(1_700_000_000_000)
	per := total / streams
	for s := 0; s < streams; s++ {
		name := fmt.Sprintf("kube-apiserver-audit-%032x", s)
		batch := make([]cwlogs.Event, 0, 10000)
		for i := 0; i < per; i++ {
			n := i*streams + s
			msg := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%08x-0000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500","verb":"list","user":{"username":"system:node:ip-10-0-%d-%d"},"responseStatus":{"code":200}}`, n, n%250, n%200)
			if n%10000 == 0 {
				msg += " " + rare
			}
			batch = append(batch, cwlogs.Event{Timestamp: t0 + int64(i), Ingestion: t0 + int64(i), Message: msg})
			if len(batch) == cap(batch) || i == per-1 {
				if err := svc.Append(ctx, group, name, batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, cwlogs.DirName, "*", "*.events"))
	sort.Strings(files)
	var size int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			size += fi.Size()
		}
	}
	fmt.Printf("filled %d events in %d streams (%d segment files, %.0f MiB) in %v\n\n", per*streams, streams, len(files), float64(size)/(1<<20), time.Since(start).Round(time.Millisecond))

	var filtered, filteredFloor, ranged, rangedFloor, callFloor []time.Duration
	matches := 0
	for r := 0; r < rounds; r++ {
		order := []int{0, 1, 2, 3, 4}
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		from := t0 + rand.Int64N(int64(per-200))
		for _, o := range order {
			runtime.GC()
			began := time.Now()
			switch o {
			case 0:
				page, err := call("FilterLogEvents", `{"logGroupName":"`+group+`","filterPattern":"`+rare+`"}`)
				if err != nil {
					return err
				}
				filtered = append(filtered, time.Since(began))
				matches = len(page["events"].([]any))
			case 1:
				// The floor: the bytes a filtered page reads (200,000 events,
				// 50,000 from each stream), line by line, with the term test.
				if err := scanFloor(files, 200000/streams); err != nil {
					return err
				}
				filteredFloor = append(filteredFloor, time.Since(began))
			case 2:
				page, err := call("FilterLogEvents", fmt.Sprintf(`{"logGroupName":"%s","startTime":%d,"endTime":%d}`, group, from, from+99))
				if err != nil {
					return err
				}
				ranged = append(ranged, time.Since(began))
				if n := len(page["events"].([]any)); n != 400 {
					return fmt.Errorf("time range of 100 ms: %d events, want 400", n)
				}
			case 3:
				if err := readFloor(files[0], from-t0, 400); err != nil {
					return err
				}
				rangedFloor = append(rangedFloor, time.Since(began))
			case 4:
				if _, err := call("ListTagsForResource", `{"resourceArn":"arn:aws:logs:us-west-2:000000000000:log-group:`+group+`"}`); err != nil {
					return err
				}
				callFloor = append(callFloor, time.Since(began))
			}
		}
	}
	fmt.Printf("%d rounds, query order shuffled per round; a filtered page found %d events\n\n", rounds, matches)
	fmt.Println("| query | p50 | p99 | floor p50 | floor p99 | p99 / floor p99 |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	row := func(name string, d, f []time.Duration) {
		fmt.Printf("| %s | %v | %v | %v | %v | %.1f× |\n", name, pct(d, 50), pct(d, 99), pct(f, 50), pct(f, 99),
			float64(pct(d, 99))/float64(pct(f, 99)))
	}
	row("filtered page (200,000 events read)", filtered, filteredFloor)
	row("time range, 100 ms (400 events)", ranged, rangedFloor)
	row("time range, against a call that only reads the group", ranged, callFloor)
	return nil
}

// scanFloor reads the first n lines of each of the first segment files of
// each stream with a term test: what a filtered page must at least read.
func scanFloor(files []string, n int) error {
	byStream := map[string]string{}
	for _, f := range files {
		s := strings.SplitN(filepath.Base(f), ".", 2)[0]
		if _, ok := byStream[s]; !ok {
			byStream[s] = f
		}
	}
	hits := 0
	for _, f := range byStream {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		r := bufio.NewReaderSize(fh, 64<<10)
		for i := 0; i < n; i++ {
			line, err := r.ReadSlice('\n')
			if err != nil {
				break
			}
			if bytes.Contains(line, []byte(rare)) {
				hits++
			}
		}
		fh.Close()
	}
	_ = hits
	return nil
}

// readFloor reads n lines of one segment from about the offset of event i
// (events are of nearly equal length), with no search.
func readFloor(file string, i int64, n int) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	line0 := make([]byte, 4096)
	k, _ := fh.ReadAt(line0, 0)
	width := int64(bytes.IndexByte(line0[:k], '\n') + 1)
	off := min(i*width, max(fi.Size()-int64(n)*width, 0))
	fh.Seek(off, io.SeekStart)
	r := bufio.NewReaderSize(fh, 64<<10)
	r.ReadSlice('\n')
	for j := 0; j < n; j++ {
		if _, err := r.ReadSlice('\n'); err != nil {
			break
		}
	}
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(time.Microsecond)
}
