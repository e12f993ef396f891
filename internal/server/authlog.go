package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// authenticatorLog tees the token webhook's records into the cluster's
// "authenticator" log (EKS's log type of that name) when it is enabled, and
// passes them on to kplane's own log at its level.
type authenticatorLog struct {
	next slog.Handler
	// file gives the log file of cluster id and whether the type is enabled.
	file  func(clusterID string) (string, bool)
	attrs []slog.Attr
	mu    *sync.Mutex
}

func (h *authenticatorLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *authenticatorLog) Handle(ctx context.Context, r slog.Record) error {
	line := map[string]any{"time": r.Time.UTC().Format(time.RFC3339Nano), "level": r.Level.String(), "msg": r.Message}
	var cluster string
	collect := func(a slog.Attr) bool {
		line[a.Key] = a.Value.Any()
		if a.Key == "clusterId" {
			cluster = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		collect(a)
	}
	r.Attrs(collect)
	if name, ok := h.file(cluster); ok && cluster != "" {
		h.append(name, line)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *authenticatorLog) append(name string, line map[string]any) {
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return
	}
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	f.Write(append(b, '\n'))
	f.Close()
}

func (h *authenticatorLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	c.next = h.next.WithAttrs(attrs)
	return &c
}

func (h *authenticatorLog) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
