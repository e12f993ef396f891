// Package hotpath prices, one at a time, the pieces kplane's server runs for
// every DescribeCluster request (internal/server/handler.go and
// internal/eks/api.go), so the profile from bench/serverprof can be read as
// "microseconds and allocations per request".
//
//	go test -run NONE -bench . -benchmem ./bench/hotpath
//
// The cluster record comes from a real kplane server started in-process
// (server.Start, no reconciler), so the JSON being encoded is exactly what
// DescribeCluster returns.
package hotpath

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/eks"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

var (
	srv *server.Server
	rec *store.ClusterRecord
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hotpath-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err = server.Start(ctx, server.Config{DataDir: dir, Listen: "127.0.0.1:0", Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	n, err := srv.Store.Network(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	t := load.NewTarget("kplane", srv.URL, srv.Region,
		aws.Credentials{AccessKeyID: srv.Root.AccessKeyID, SecretAccessKey: srv.Root.SecretAccessKey}, 1)
	if err := t.EnsureRole(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := t.CreateCluster(ctx, "hot", []string{n.Subnets[0].ID, n.Subnets[1].ID}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if rec, err = srv.Store.GetCluster(ctx, "hot"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// signedDescribe is a GET /clusters/hot as the server receives it, signed at now.
func signedDescribe(b *testing.B, now time.Time) *http.Request {
	r, err := http.NewRequest("GET", srv.URL+"/clusters/hot", nil)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: srv.Root.AccessKeyID, SecretAccessKey: srv.Root.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "eks", srv.Region, now); err != nil {
		b.Fatal(err)
	}
	// What net/http's server hands a handler: Host moved out of the header map, RequestURI set.
	r.Host = r.URL.Host
	r.RequestURI = r.URL.RequestURI()
	return r
}

// BenchmarkMarshalDescribe is eks.(*API).Serve's json.Marshal of the answer.
func BenchmarkMarshalDescribe(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := json.Marshal(map[string]any{"cluster": rec.Cluster})
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/answer")
}

// BenchmarkWriteCached is the alternative: bytes encoded once per record
// revision, copied to the response.
func BenchmarkWriteCached(b *testing.B) {
	b.ReportAllocs()
	cached, _ := json.Marshal(map[string]any{"cluster": rec.Cluster})
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		buf.Write(cached)
	}
}

// BenchmarkVerify is auth.(*Verifier).Verify of a fresh SDK signature
// (signing-key cache warm, as on a busy server).
func BenchmarkVerify(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	v := &auth.Verifier{Region: srv.Region, Credentials: auth.StaticCredentials{srv.Root.AccessKeyID: srv.Root},
		Now: func() time.Time { return now }}
	r := signedDescribe(b, now)
	for b.Loop() {
		if _, rej := v.Verify(r, nil, "eks"); rej != nil {
			b.Fatal(rej.Message)
		}
	}
}

// BenchmarkOperation is one eks.Operation (route match); the handler matches
// each request twice (eks.Operation for metrics, then eks.(*API).Serve).
func BenchmarkOperation(b *testing.B) {
	b.ReportAllocs()
	r := signedDescribe(b, time.Now())
	for b.Loop() {
		if eks.Operation(r) != "DescribeCluster" {
			b.Fatal("not routed")
		}
	}
}

func BenchmarkRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = uuid.NewString()
	}
}

// BenchmarkDateHeader is the handler's own Date header (net/http writes one anyway).
func BenchmarkDateHeader(b *testing.B) {
	b.ReportAllocs()
	h := http.Header{}
	for b.Loop() {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
}

// BenchmarkMetrics is the deferred counter and histogram update, with the
// handler's label lookups and fmt.Sprint of the status code.
func BenchmarkMetrics(b *testing.B) {
	b.ReportAllocs()
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r_total", Help: "r"}, []string{"operation", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "l_seconds", Help: "l",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"operation"})
	reg.MustRegister(requests, latency)
	code := 200
	for b.Loop() {
		start := time.Now()
		requests.WithLabelValues("DescribeCluster", fmt.Sprint(code)).Inc()
		latency.WithLabelValues("DescribeCluster").Observe(time.Since(start).Seconds())
	}
}

// BenchmarkDisabledLog is the deferred request log line at debug level with
// the server at warn: nothing is written, but the arguments are still built.
func BenchmarkDisabledLog(b *testing.B) {
	b.ReportAllocs()
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := signedDescribe(b, time.Now())
	ctx := context.Background()
	id := uuid.NewString()
	code := 200
	for b.Loop() {
		start := time.Now()
		log.Log(ctx, slog.LevelDebug, "request", "requestId", id, "operation", "DescribeCluster",
			"method", r.Method, "path", r.URL.Path, "status", code, "ms", float64(time.Since(start).Microseconds())/1000)
	}
}

// BenchmarkReadEmptyBody is io.ReadAll of a GET's empty body plus the
// replacement reader the handler installs.
func BenchmarkReadEmptyBody(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		body, _ := io.ReadAll(io.LimitReader(http.NoBody, 4<<20+1))
		_ = io.NopCloser(bytes.NewReader(body))
	}
}

// BenchmarkContextAndQuery is r.WithContext(context.WithValue(...)) for the
// request id and r.URL.Query() for the handler's call struct.
func BenchmarkContextAndQuery(b *testing.B) {
	b.ReportAllocs()
	r := signedDescribe(b, time.Now())
	type key struct{}
	for b.Loop() {
		r2 := r.WithContext(context.WithValue(r.Context(), key{}, "id"))
		_ = r2.URL.Query()
	}
}

// BenchmarkValidateName is validateClusterName's regexp (re-created here: it
// is unexported in internal/eks/validate.go).
func BenchmarkValidateName(b *testing.B) {
	b.ReportAllocs()
	re := regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]*$`)
	for b.Loop() {
		if !re.MatchString("bench-00000") {
			b.Fatal("no match")
		}
	}
}
