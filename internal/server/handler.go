package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/eks"
	"github.com/kplane/kplane/internal/store"
)

// InternalPrefix holds kplane's own endpoints. No EKS or STS route starts
// with an underscore, so these never collide with one.
const InternalPrefix = "/_kplane/"

// maxBody bounds a request body; EKS requests are a few KiB.
const maxBody = 4 << 20

type ctxKey struct{}

type handler struct {
	api      *eks.API
	verifier *auth.Verifier
	query    http.Handler       // IAM and STS, in the AWS query protocol
	ec2      http.Handler       // EC2, in its query protocol; set by Start
	json     []*awsjson.Service // KMS, CloudWatch Logs: JSON 1.1 by X-Amz-Target; set by Start
	store    *store.Store
	log      *slog.Logger
	metrics  *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	internal *http.ServeMux
	oidc     http.Handler
}

func newHandler(api *eks.API, query http.Handler, v *auth.Verifier, st *store.Store, oidc http.Handler, log *slog.Logger) *handler {
	h := &handler{api: api, query: query, verifier: v, store: st, oidc: oidc, log: log, metrics: prometheus.NewRegistry()}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kplane_api_requests_total", Help: "EKS and STS API requests by operation and status code.",
	}, []string{"operation", "code"})
	h.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kplane_api_request_duration_seconds", Help: "EKS and STS API request latency.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"operation"})
	h.metrics.MustRegister(h.requests, h.latency)
	h.internal = http.NewServeMux()
	h.internal.HandleFunc(InternalPrefix+"readyz", h.readyz)
	h.internal.Handle(InternalPrefix+"metrics", promhttp.HandlerFor(h.metrics, promhttp.HandlerOpts{}))
	return h
}

func requestID(r *http.Request) string {
	if id, ok := r.Context().Value(ctxKey{}).(string); ok {
		return id
	}
	return ""
}

// statusWriter remembers the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, InternalPrefix) {
		h.internal.ServeHTTP(rw, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, OIDCPrefix+"/") {
		h.oidc.ServeHTTP(rw, r)
		return
	}
	start := time.Now()
	id := uuid.NewString()
	r = r.WithContext(contextWithID(r, id))
	w := &statusWriter{ResponseWriter: rw}
	w.Header().Set("x-amzn-RequestId", id)
	op := "IAM/STS"
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("panic serving request", "requestId", id, "operation", op, "panic", fmt.Sprint(p))
			if w.code == 0 {
				eks.WriteError(w, eks.Errorf(eks.ServerError, "Internal failure; request id %s", id))
			}
		}
		code := fmt.Sprint(w.code)
		h.requests.WithLabelValues(op, code).Inc()
		h.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
		level := slog.LevelDebug
		if r.Method != http.MethodGet || w.code >= 400 {
			level = slog.LevelInfo
		}
		if h.log.Enabled(r.Context(), level) {
			h.log.Log(r.Context(), level, "request", "requestId", id, "operation", op,
				"method", r.Method, "path", r.URL.Path, "status", w.code, "ms", float64(time.Since(start).Microseconds())/1000)
		}
	}()
	for _, svc := range h.json {
		if svc.Handles(r) {
			op = svc.TargetPrefix
			svc.ServeHTTP(w, r)
			return
		}
	}
	if auth.IsQueryRequest(r) {
		// The signature's scope says which service, as AWS's host names do.
		if service, _ := auth.SigningScope(r); service == "ec2" && h.ec2 != nil {
			op = "EC2"
			h.ec2.ServeHTTP(w, r)
			return
		}
		h.query.ServeHTTP(w, r)
		return
	}
	op = eks.Operation(r)
	if op == "" {
		op = "Unknown"
	}
	var body []byte
	var err error
	if r.ContentLength != 0 {
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	}
	if err != nil {
		eks.WriteError(w, eks.Errorf(eks.BadRequest, "Could not read the request body: %v", err))
		return
	}
	if len(body) > maxBody {
		eks.WriteError(w, eks.Errorf(eks.BadRequest, "The request body is larger than %d bytes", maxBody))
		return
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	cred, rej := h.verifier.Verify(r, body, "eks")
	if rej != nil {
		h.log.Info("request refused", "requestId", id, "reason", rej.Reason)
		eks.WriteError(w, &eks.Error{Type: rej.Code, Status: rej.Status, Message: rej.Message})
		return
	}
	h.api.Serve(w, r, body, cred)
}

func contextWithID(r *http.Request, id string) context.Context {
	return context.WithValue(r.Context(), ctxKey{}, id)
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if _, err := h.store.Client.Get(r.Context(), "/kplane/meta/readyz"); err != nil {
		http.Error(w, "datastore: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}
