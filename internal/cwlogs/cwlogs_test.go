package cwlogs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

type testEnv struct {
	t   testing.TB
	dir string
	st  *store.Store
	svc *Service
	ops *awsjson.Service
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := New(st, dir, "000000000000", "us-west-2")
	return &testEnv{t: t, dir: dir, st: st, svc: svc, ops: svc.Handler(nil, nil)}
}

func (e *testEnv) call(op, body string) (map[string]any, *awsjson.Error) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	out, err := e.ops.Ops[op](&awsjson.Call{R: r, Body: []byte(body), Op: op})
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(out)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m, nil
}

func (e *testEnv) must(op, body string) map[string]any {
	e.t.Helper()
	m, err := e.call(op, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", op, body, err)
	}
	return m
}

func (e *testEnv) fails(op, body, typ string) {
	e.t.Helper()
	if _, err := e.call(op, body); err == nil || err.Type != typ || err.Message == "" {
		e.t.Fatalf("%s %s: got %v, want %s", op, body, err, typ)
	}
}

// put writes n events 1 ms apart from t0 into a stream.
func (e *testEnv) put(group, stream string, t0 int64, msgs ...string) {
	e.t.Helper()
	g, err := e.st.GetLogGroup(context.Background(), group)
	if err != nil {
		e.t.Fatal(err)
	}
	var evs []Event
	for i, m := range msgs {
		evs = append(evs, Event{Timestamp: t0 + int64(i), Ingestion: t0 + int64(i), Message: m})
	}
	if err := e.svc.events.append(g.ID, stream, t0, evs); err != nil {
		e.t.Fatal(err)
	}
}

func TestGroupsRetentionTags(t *testing.T) {
	e := newTestEnv(t)
	e.must("CreateLogGroup", `{"logGroupName":"/aws/eks/a/cluster","tags":{"team":"x"}}`)
	e.must("CreateLogGroup", `{"logGroupName":"/app/b"}`)
	e.fails("CreateLogGroup", `{"logGroupName":"/app/b"}`, "ResourceAlreadyExistsException")
	e.fails("CreateLogGroup", `{"logGroupName":"bad name"}`, "ValidationException")
	e.fails("CreateLogGroup", `{}`, "ValidationException")
	e.must("PutRetentionPolicy", `{"logGroupName":"/app/b","retentionInDays":7}`)
	e.fails("PutRetentionPolicy", `{"logGroupName":"/app/b","retentionInDays":8}`, "InvalidParameterException")
	e.fails("PutRetentionPolicy", `{"logGroupName":"/nope","retentionInDays":7}`, "ResourceNotFoundException")
	groups := e.must("DescribeLogGroups", `{"logGroupNamePrefix":"/app"}`)["logGroups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["retentionInDays"] != float64(7) ||
		groups[0].(map[string]any)["arn"] != "arn:aws:logs:us-west-2:000000000000:log-group:/app/b:*" {
		t.Fatalf("describe: %v", groups)
	}
	page := e.must("DescribeLogGroups", `{"limit":1}`)
	if len(page["logGroups"].([]any)) != 1 || page["nextToken"] == nil {
		t.Fatalf("page 1: %v", page)
	}
	if rest := e.must("DescribeLogGroups", `{"limit":1,"nextToken":"`+page["nextToken"].(string)+`"}`)["logGroups"].([]any); len(rest) != 1 || rest[0].(map[string]any)["logGroupName"] != "/aws/eks/a/cluster" {
		t.Fatalf("page 2: %v", rest)
	}
	e.must("DeleteRetentionPolicy", `{"logGroupName":"/app/b"}`)
	arn := "arn:aws:logs:us-west-2:000000000000:log-group:/aws/eks/a/cluster"
	e.must("TagResource", `{"resourceArn":"`+arn+`","tags":{"env":"dev"}}`)
	if tags := e.must("ListTagsForResource", `{"resourceArn":"`+arn+`"}`)["tags"].(map[string]any); len(tags) != 2 || tags["env"] != "dev" {
		t.Fatalf("tags: %v", tags)
	}
	e.must("UntagResource", `{"resourceArn":"`+arn+`","tagKeys":["team"]}`)
	e.fails("ListTagsForResource", `{"resourceArn":"arn:aws:logs:us-west-2:000000000000:log-group:/none"}`, "ResourceNotFoundException")
	e.put("/app/b", "s1", 1000, "x")
	g, _ := e.st.GetLogGroup(context.Background(), "/app/b")
	e.must("DeleteLogGroup", `{"logGroupName":"/app/b"}`)
	if _, err := os.Stat(filepath.Join(e.dir, DirName, g.ID)); !os.IsNotExist(err) {
		t.Fatalf("events of a deleted group remain: %v", err)
	}
	e.fails("DeleteLogGroup", `{"logGroupName":"/app/b"}`, "ResourceNotFoundException")
	e.fails("DescribeLogStreams", `{"logGroupName":"/app/b"}`, "ResourceNotFoundException")
}

func TestEventsReadFilterPage(t *testing.T) {
	e := newTestEnv(t)
	e.must("CreateLogGroup", `{"logGroupName":"g"}`)
	var a, b []string
	for i := 0; i < 5000; i++ {
		a = append(a, fmt.Sprintf("GET /api/v1/pods %d status=200", i))
		b = append(b, fmt.Sprintf("POST /api/v1/secrets %d status=%d", i, 200+i%2*300))
	}
	e.put("g", "kube-apiserver-a", 1_000_000, a...) // t 1000000..1004999
	e.put("g", "kube-apiserver-b", 1_002_000, b...) // t 1002000..1006999

	streams := e.must("DescribeLogStreams", `{"logGroupName":"g"}`)["logStreams"].([]any)
	if len(streams) != 2 || streams[0].(map[string]any)["firstEventTimestamp"] != float64(1_000_000) ||
		streams[0].(map[string]any)["lastEventTimestamp"] != float64(1_004_999) {
		t.Fatalf("streams: %v", streams)
	}
	// GetLogEvents: from the head, from a start time, the tail by default.
	head := e.must("GetLogEvents", `{"logGroupName":"g","logStreamName":"kube-apiserver-a","startFromHead":true,"limit":3}`)
	if evs := head["events"].([]any); len(evs) != 3 || evs[0].(map[string]any)["message"] != a[0] {
		t.Fatalf("head: %v", head)
	}
	next := e.must("GetLogEvents", `{"logGroupName":"g","logStreamName":"kube-apiserver-a","nextToken":"`+head["nextForwardToken"].(string)+`","limit":2}`)
	if evs := next["events"].([]any); len(evs) != 2 || evs[0].(map[string]any)["message"] != a[3] {
		t.Fatalf("next: %v", next)
	}
	at := e.must("GetLogEvents", `{"logGroupName":"g","logStreamName":"kube-apiserver-a","startFromHead":true,"startTime":1003000,"limit":1}`)
	if evs := at["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["timestamp"] != float64(1_003_000) {
		t.Fatalf("startTime: %v", at)
	}
	tail := e.must("GetLogEvents", `{"logGroupName":"g","logStreamName":"kube-apiserver-a","limit":2}`)
	if evs := tail["events"].([]any); len(evs) != 2 || evs[1].(map[string]any)["message"] != a[4999] {
		t.Fatalf("tail: %v", tail)
	}
	e.fails("GetLogEvents", `{"logGroupName":"g","logStreamName":"nope"}`, "ResourceNotFoundException")

	// FilterLogEvents: interleaved by time, terms, a time range, paging.
	all := filterAll(e, `"logGroupName":"g","filterPattern":"POST status=500","limit":100`)
	if len(all) != 2500 {
		t.Fatalf("POST status=500: %d events", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i]["timestamp"].(float64) < all[i-1]["timestamp"].(float64) {
			t.Fatal("events not in time order")
		}
	}
	ranged := filterAll(e, `"logGroupName":"g","startTime":1004000,"endTime":1004009`)
	if len(ranged) != 20 {
		t.Fatalf("range: %d events", len(ranged))
	}
	if n := len(filterAll(e, `"logGroupName":"g","filterPattern":"?secrets ?pods -status=200"`)); n != 2500 {
		t.Fatalf("?secrets ?pods -status=200: %d", n)
	}
	if n := len(filterAll(e, `"logGroupName":"g","filterPattern":"\"pods 42 \""`)); n != 1 {
		t.Fatalf("quoted: %d", n)
	}
	if n := len(filterAll(e, `"logGroupName":"g","logStreamNames":["kube-apiserver-b"],"filterPattern":"secrets"`)); n != 5000 {
		t.Fatalf("one stream: %d", n)
	}
	e.fails("FilterLogEvents", `{"logGroupName":"g","filterPattern":"{ $.x = 1 }"}`, "InvalidParameterException")
	e.fails("FilterLogEvents", `{"logGroupName":"g","nextToken":"!!"}`, "InvalidParameterException")
	e.fails("FilterLogEvents", `{}`, "InvalidParameterException")
	e.fails("FilterLogEvents", `{"logGroupName":"g","limit":0}`, "ValidationException")

	// Retention hides what is older than it.
	e.must("PutRetentionPolicy", `{"logGroupName":"g","retentionInDays":1}`)
	if n := len(filterAll(e, `"logGroupName":"g"`)); n != 0 {
		t.Fatalf("events from 1970 within a day's retention: %d", n)
	}
}

func filterAll(e *testEnv, params string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	token := ""
	for pages := 0; pages < 10000; pages++ {
		body := "{" + params
		if token != "" {
			body += `,"nextToken":"` + token + `"`
		}
		page := e.must("FilterLogEvents", body+"}")
		for _, ev := range page["events"].([]any) {
			out = append(out, ev.(map[string]any))
		}
		t, ok := page["nextToken"].(string)
		if !ok {
			return out
		}
		token = t
	}
	e.t.Fatal("FilterLogEvents never ended")
	return nil
}

// The shipper puts new lines of a cluster's files into /aws/eks/NAME/cluster
// in EKS-named streams, once each, across restarts, and follows truncation.
func TestShipper(t *testing.T) {
	e := newTestEnv(t)
	src := filepath.Join(e.dir, "api.log")
	os.WriteFile(src, []byte("line one\nline two\npartial"), 0o600)
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "demo", ID: "id-1", Status: "ACTIVE"}}
	ship := func() {
		sh := &Shipper{Service: e.svc, Store: e.st, Files: func(*store.ClusterRecord) map[string][]string {
			return map[string][]string{"api": {src}}
		}}
		if err := sh.ShipCluster(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	messages := func() []string {
		var out []string
		for _, ev := range filterAll(e, `"logGroupName":"/aws/eks/demo/cluster"`) {
			out = append(out, ev["message"].(string))
			if !strings.HasPrefix(ev["logStreamName"].(string), "kube-apiserver-") || len(ev["logStreamName"].(string)) != len("kube-apiserver-")+32 {
				t.Fatalf("stream name %v", ev["logStreamName"])
			}
		}
		return out
	}
	ship()
	ship()
	if got := messages(); strings.Join(got, "|") != "line one|line two" {
		t.Fatalf("shipped: %q", got)
	}
	f, _ := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(" done\nthree\n")
	f.Close()
	ship() // a new Shipper: as after a restart, it resumes from the meta's offset
	if got := messages(); strings.Join(got, "|") != "line one|line two|partial done|three" {
		t.Fatalf("after append: %q", got)
	}
	os.WriteFile(src, []byte("new\n"), 0o600)
	ship()
	if got := messages(); len(got) != 5 || got[4] != "new" {
		t.Fatalf("after truncation: %q", got)
	}
}

// FuzzDecode feeds arbitrary bodies to every read and tag operation: each
// answers or returns a modeled error of a 4xx status, never a panic or a 500.
func FuzzDecode(f *testing.F) {
	e := newTestEnv(f)
	e.must("CreateLogGroup", `{"logGroupName":"g"}`)
	e.put("g", "s", 1000, "a b c", "d e f")
	for _, seed := range []string{`{}`, `{"logGroupName":"g"}`, `{"logGroupName":"g","logStreamName":"s","nextToken":"f/3"}`,
		`{"logGroupName":"g","nextToken":"eyJzIjo1fQ"}`, `{"logGroupName":"g","filterPattern":"\"a"}`, `{"logGroupIdentifier":"arn:aws:logs:x"}`,
		`{"logGroupName":"g","limit":-1}`, `{"resourceArn":"arn:aws:logs:us-west-2:000000000000:log-group:g","tags":{"":""}}`, `[]`, `null`,
		`{"logGroupName":"g","logStreamName":"s","nextToken":"b/99999999"}`, `{"logGroupName":"g","orderBy":"LastEventTime","descending":true}`} {
		for _, op := range []string{"DescribeLogStreams", "GetLogEvents", "FilterLogEvents", "DescribeLogGroups", "ListTagsForResource"} {
			f.Add(op, seed)
		}
	}
	f.Fuzz(func(t *testing.T, op, body string) {
		fn := e.ops.Ops[op]
		if fn == nil || strings.HasPrefix(op, "Delete") || strings.HasPrefix(op, "Put") || strings.HasSuffix(op, "Resource") && op != "ListTagsForResource" {
			return
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		_, err := fn(&awsjson.Call{R: r, Body: []byte(body), Op: op})
		if err != nil && (err.Status >= 500 || err.Type == "" || err.Message == "") {
			t.Fatalf("%s %q: %+v", op, body, err)
		}
	})
}
