package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// RunContext is a benchmark's context: it ends on SIGINT or SIGTERM, or
// once timeout is spent, so that the benchmark stops and cleans up what it
// started. A second signal kills the benchmark outright (its children die
// with it by Pdeathsig).
func RunContext(timeout time.Duration, logf func(format string, args ...any)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			logf("got %v: stopping and cleaning up", sig)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				logf("time budget %s spent: stopping and cleaning up", timeout)
			}
		}
		signal.Stop(sigs)
		cancel()
	}()
	return ctx, cancel
}

// Finish prints a benchmark's report (text, then the markdown for
// docs/benchmarks.md), writes the markdown to out when set, and exits 1 when
// the run failed (err).
func Finish(name, out, text, markdown string, err error) {
	fmt.Println(text)
	fmt.Println("==== markdown for docs/benchmarks.md ====")
	fmt.Println()
	fmt.Println(markdown)
	if out != "" {
		if werr := os.WriteFile(out, []byte(markdown), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, name+":", werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
