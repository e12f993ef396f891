package authn

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// serveOnce runs one review through the handler in process and reports how long it took.
func serveOnce(tb testing.TB, h http.Handler, path string, body []byte) time.Duration {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	d := time.Since(start)
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"authenticated":true`)) {
		tb.Fatalf("%d %s", rec.Code, rec.Body)
	}
	return d
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func reportLatency(b *testing.B, ds []time.Duration) {
	b.ReportMetric(float64(percentile(ds, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(ds, 0.99).Nanoseconds()), "p99-ns")
}

// BenchmarkWebhook measures one TokenReview end to end: decode, verify (or cache hit),
// map, encode. warm = the same token again and again (kubectl reuses one for 14 min);
// cold = no cache, every review checks the signature; http = over loopback with
// keep-alive, as kube-apiserver calls it.
func BenchmarkWebhook(b *testing.B) {
	body := reviewBody(apiVersionV1, mint(b, "demo", rootCreds, signTime))

	b.Run("warm", func(b *testing.B) {
		f := newFixture(b)
		serveOnce(b, f.h, prefix+"c-demo", body)
		ds := make([]time.Duration, 0, 1<<20)
		b.ReportAllocs()
		for b.Loop() {
			d := serveOnce(b, f.h, prefix+"c-demo", body)
			if len(ds) < cap(ds) {
				ds = append(ds, d)
			}
		}
		reportLatency(b, ds)
	})
	b.Run("cold", func(b *testing.B) {
		f := newFixture(b)
		f.h.cache = nil
		ds := make([]time.Duration, 0, 1<<20)
		b.ReportAllocs()
		for b.Loop() {
			d := serveOnce(b, f.h, prefix+"c-demo", body)
			if len(ds) < cap(ds) {
				ds = append(ds, d)
			}
		}
		reportLatency(b, ds)
	})
	b.Run("warm-parallel", func(b *testing.B) {
		f := newFixture(b)
		serveOnce(b, f.h, prefix+"c-demo", body)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serveOnce(b, f.h, prefix+"c-demo", body)
			}
		})
	})
	b.Run("warm-http", func(b *testing.B) {
		f := newFixture(b)
		srv := httptest.NewServer(f.h)
		defer srv.Close()
		client := srv.Client()
		url := srv.URL + prefix + "c-demo"
		post := func() time.Duration {
			start := time.Now()
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			d := time.Since(start)
			if resp.StatusCode != 200 || !bytes.Contains(buf.Bytes(), []byte(`"authenticated":true`)) {
				b.Fatalf("%d %s", resp.StatusCode, buf.Bytes())
			}
			return d
		}
		post()
		ds := make([]time.Duration, 0, 1<<20)
		b.ReportAllocs()
		for b.Loop() {
			if d := post(); len(ds) < cap(ds) {
				ds = append(ds, d)
			}
		}
		reportLatency(b, ds)
	})
}

// The bound: p99 under 2 ms with a warm cache. Unloaded, in process, p99 is
// well under 0.1 ms; the machine running the tests may be busy, so the best of a few
// rounds counts. Skipped under -race, which slows everything tenfold.
func TestWebhookWarmLatency(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("latency measurement")
	}
	f := newFixture(t)
	body := reviewBody(apiVersionV1, mint(t, "demo", rootCreds, signTime))
	serveOnce(t, f.h, prefix+"c-demo", body)
	var rounds []string
	for range 5 {
		ds := make([]time.Duration, 0, 1000)
		for range cap(ds) {
			ds = append(ds, serveOnce(t, f.h, prefix+"c-demo", body))
		}
		p99 := percentile(ds, 0.99)
		if p99 < 2*time.Millisecond {
			return
		}
		rounds = append(rounds, fmt.Sprintf("p50 %v p99 %v", percentile(ds, 0.50), p99))
	}
	t.Fatalf("warm p99 over 2ms in every round: %v", rounds)
}
