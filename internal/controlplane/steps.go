package controlplane

import (
	"context"
	"errors"
)

// A step is one part of making a cluster's control plane run, with its
// cleanup. Ensure runs every step's ensure in list order on every pass (so
// each must be idempotent: done already, it changes nothing); Remove runs
// the cleanups in the reverse order (each idempotent too: a Remove that
// failed half-way is run again). A step that fails ends the pass; the
// reconciler's next pass runs it again.
type step[P any] struct {
	name    string
	ensure  func(context.Context, P) error // nil: nothing to make
	cleanup func(context.Context, P) error // nil: nothing to undo
}

// errHalt ends an Ensure pass early without an error: what the pass has
// observed so far is the answer (an invalid config, an endpoint that cannot
// listen).
var errHalt = errors.New("halt")

// ensureSteps runs the steps' ensures in order, up to the first that fails
// or halts.
func ensureSteps[P any](ctx context.Context, steps []step[P], p P) error {
	for _, s := range steps {
		if s.ensure == nil {
			continue
		}
		if err := s.ensure(ctx, p); err != nil {
			if errors.Is(err, errHalt) {
				return nil
			}
			return err
		}
	}
	return nil
}

// cleanupSteps runs the steps' cleanups in reverse order, up to the first
// that fails.
func cleanupSteps[P any](ctx context.Context, steps []step[P], p P) error {
	for i := len(steps) - 1; i >= 0; i-- {
		if c := steps[i].cleanup; c != nil {
			if err := c(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}
