package cwlogs

import "sync"

// FaultPoint names a place in an append where a test can make it fail as a
// crash there would (store.InjectFault's idea for the event files). No user
// sets one.
type FaultPoint string

const (
	// FaultAfterAppend is right after a batch's events are on disk, before
	// the caller hears of it.
	FaultAfterAppend FaultPoint = "after a batch of events is written"
	// FaultTornAppend writes half of a batch's bytes, as a crash in the
	// middle of the write would leave them.
	FaultTornAppend FaultPoint = "halfway through writing a batch"
)

type faults struct {
	mu sync.Mutex
	at map[FaultPoint]func() error
}

// InjectFault makes appends fail at point with fail's error (nil: none).
func (s *Service) InjectFault(point FaultPoint, fail func() error) {
	f := &s.events.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at == nil {
		f.at = map[FaultPoint]func() error{}
	}
	f.at[point] = fail
}

func (f *faults) fault(point FaultPoint) error {
	f.mu.Lock()
	fail := f.at[point]
	f.mu.Unlock()
	if fail == nil {
		return nil
	}
	return fail()
}
