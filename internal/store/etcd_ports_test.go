package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
)

// TestEmbeddedPortInUse: a taken port is reported as EADDRINUSE (which is
// what makes startEmbedded pick fresh ports when one of its own picks was
// taken in between), and a taken port the operator named stays an error.
func TestEmbeddedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Open(context.Background(), Config{
		DataDir: t.TempDir(), ClientAddr: l.Addr().String(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Open on a taken client port: %v, want EADDRINUSE", err)
	}
}
