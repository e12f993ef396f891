package controlplane

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// world is what fake steps make: the things that exist, and a log of what ran.
type world struct {
	made   map[string]int // how many times each thing was made
	ran    []string
	failAt string // the step whose ensure fails (once)
}

func fakeSteps(names ...string) []step[*world] {
	var steps []step[*world]
	for _, n := range names {
		steps = append(steps, step[*world]{
			name: n,
			ensure: func(_ context.Context, w *world) error {
				w.ran = append(w.ran, "ensure "+n)
				if w.failAt == n {
					w.failAt = ""
					return errors.New(n + " failed")
				}
				if w.made[n] == 0 { // idempotent: made once however often it runs
					w.made[n]++
				}
				return nil
			},
			cleanup: func(_ context.Context, w *world) error {
				w.ran = append(w.ran, "cleanup "+n)
				delete(w.made, n)
				return nil
			},
		})
	}
	return steps
}

func TestStepsEnsureInOrderAndCleanUpInReverse(t *testing.T) {
	steps := fakeSteps("port", "etcd user", "replicas", "endpoint")
	w := &world{made: map[string]int{}}
	if err := ensureSteps(context.Background(), steps, w); err != nil {
		t.Fatal(err)
	}
	if err := cleanupSteps(context.Background(), steps, w); err != nil {
		t.Fatal(err)
	}
	want := []string{"ensure port", "ensure etcd user", "ensure replicas", "ensure endpoint",
		"cleanup endpoint", "cleanup replicas", "cleanup etcd user", "cleanup port"}
	if !slices.Equal(w.ran, want) {
		t.Fatalf("ran %q, want %q", w.ran, want)
	}
	if len(w.made) != 0 {
		t.Fatalf("left after cleanup: %v", w.made)
	}
}

func TestStepsEnsureTwiceMakesEachOnce(t *testing.T) {
	steps := fakeSteps("a", "b", "c")
	w := &world{made: map[string]int{}}
	for range 2 {
		if err := ensureSteps(context.Background(), steps, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		if w.made[n] != 1 {
			t.Fatalf("%s made %d times, want 1", n, w.made[n])
		}
	}
}

func TestStepsFailingStepStopsThePassAndIsRetried(t *testing.T) {
	steps := fakeSteps("a", "b", "c")
	w := &world{made: map[string]int{}, failAt: "b"}
	if err := ensureSteps(context.Background(), steps, w); err == nil || err.Error() != "b failed" {
		t.Fatalf("first pass: %v, want b's error", err)
	}
	if w.made["c"] != 0 {
		t.Fatal("a step after the failing one ran")
	}
	w.ran = nil
	if err := ensureSteps(context.Background(), steps, w); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if want := []string{"ensure a", "ensure b", "ensure c"}; !slices.Equal(w.ran, want) {
		t.Fatalf("second pass ran %q, want %q", w.ran, want)
	}
	if w.made["b"] != 1 || w.made["c"] != 1 {
		t.Fatalf("made %v after the retry", w.made)
	}
}

func TestStepsHaltEndsThePassWithoutError(t *testing.T) {
	var ran []string
	steps := []step[*world]{
		{name: "check", ensure: func(context.Context, *world) error { ran = append(ran, "check"); return errHalt }},
		{name: "after", ensure: func(context.Context, *world) error { ran = append(ran, "after"); return nil }},
	}
	if err := ensureSteps(context.Background(), steps, &world{}); err != nil {
		t.Fatalf("halt surfaced as %v", err)
	}
	if !slices.Equal(ran, []string{"check"}) {
		t.Fatalf("ran %v", ran)
	}
}

func TestStepsFailingCleanupStopsAndIsRetried(t *testing.T) {
	fail := true
	var ran []string
	steps := []step[*world]{
		{name: "first", cleanup: func(context.Context, *world) error { ran = append(ran, "first"); return nil }},
		{name: "second", cleanup: func(context.Context, *world) error {
			ran = append(ran, "second")
			if fail {
				fail = false
				return errors.New("busy")
			}
			return nil
		}},
	}
	if err := cleanupSteps(context.Background(), steps, &world{}); err == nil {
		t.Fatal("failed cleanup not reported")
	}
	if err := cleanupSteps(context.Background(), steps, &world{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"second", "second", "first"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}

// The provisioner's list: create order, and every step named once.
func TestProvisionStepsOrder(t *testing.T) {
	var names []string
	for _, s := range (&LocalProvisioner{}).provisionSteps() {
		names = append(names, s.name)
	}
	want := []string{"port", "config", "etcd user", "etcd data", "token webhook", "VPC endpoint", "replicas", "endpoint", "readiness", "access bindings"}
	if !slices.Equal(names, want) {
		t.Fatalf("steps %q, want %q", names, want)
	}
}
