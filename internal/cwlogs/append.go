package cwlogs

import (
	"context"
	"errors"

	"github.com/kplane/kplane/internal/store"
)

// Append adds events (in timestamp order, none older than the stream's
// newest) to a stream of an existing group, making the stream when missing:
// what the shipper does, for benchmarks and tools that fill a group.
func (s *Service) Append(ctx context.Context, group, stream string, events []Event) error {
	g, err := s.st.GetLogGroup(ctx, group)
	if errors.Is(err, store.ErrNotFound) {
		return errors.New("no log group " + group)
	} else if err != nil {
		return err
	}
	return s.events.append(g.ID, stream, s.now().UnixMilli(), events)
}
