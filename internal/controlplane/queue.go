package controlplane

import (
	"sync"
	"time"
)

// queue hands out cluster names to workers: a name waits at most once, and
// is never with two workers at a time (a name added while being worked on is
// handed out again after Done).
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string
	waiting    map[string]bool
	processing map[string]bool
	redo       map[string]bool
	closed     bool
}

func newQueue() *queue {
	q := &queue{waiting: map[string]bool{}, processing: map[string]bool{}, redo: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) add(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed || q.waiting[name]:
	case q.processing[name]:
		q.redo[name] = true
	default:
		q.waiting[name] = true
		q.order = append(q.order, name)
		q.cond.Signal()
	}
}

func (q *queue) addAfter(name string, d time.Duration) {
	time.AfterFunc(d, func() { q.add(name) })
}

// get blocks for the next name; ok is false once the queue is closed.
func (q *queue) get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	name := q.order[0]
	q.order = q.order[1:]
	delete(q.waiting, name)
	q.processing[name] = true
	return name, true
}

func (q *queue) done(name string) {
	q.mu.Lock()
	delete(q.processing, name)
	again := q.redo[name]
	delete(q.redo, name)
	q.mu.Unlock()
	if again {
		q.add(name)
	}
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
