package store

import "sync"

// FaultPoint names a place inside a store write where a test can make the
// write fail as a crash or a lost etcd connection there would. No user sets
// one: they exist so that tests can show what a failure there leaves behind.
type FaultPoint string

// FaultAfterCreateCluster is right after CreateCluster's transaction
// committed, before the caller hears of it.
const FaultAfterCreateCluster FaultPoint = "after CreateCluster's transaction"

// FaultAfterStartUpdate is right after StartUpdate's transaction committed,
// before the caller hears of it.
const FaultAfterStartUpdate FaultPoint = "after StartUpdate's transaction"

// faults holds the injected failures; the zero value injects none.
type faults struct {
	mu sync.Mutex
	at map[FaultPoint]func() error
}

// InjectFault makes the store call fail at point; its error, if any, is what
// the write returns. A nil fail removes the fault.
func (s *Store) InjectFault(point FaultPoint, fail func() error) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.at == nil {
		s.faults.at = map[FaultPoint]func() error{}
	}
	s.faults.at[point] = fail
}

// fault is the error injected at point, or nil.
func (s *Store) fault(point FaultPoint) error {
	s.faults.mu.Lock()
	fail := s.faults.at[point]
	s.faults.mu.Unlock()
	if fail == nil {
		return nil
	}
	return fail()
}
