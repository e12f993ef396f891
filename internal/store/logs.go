package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// CloudWatch Logs' records: only log groups' metadata. Log events are bulk
// data and live in files under the data directory (see package cwlogs).
//
//	/kplane/logs/groups/NAME   LogGroup
const logGroupsPrefix = prefix + "logs/groups/"

func logGroupKey(name string) string { return logGroupsPrefix + name }

// LogGroup is a CloudWatch Logs log group.
type LogGroup struct {
	Name string `json:"name"`
	// ID names the group's directory of event files; a group made again
	// under the same name gets a new one.
	ID              string            `json:"id"`
	CreationTime    int64             `json:"creationTime"` // ms since 1970
	RetentionInDays *int              `json:"retentionInDays,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	// Revision is etcd's ModRevision when read (not stored).
	Revision int64 `json:"-"`
}

// CreateLogGroup stores a new group; ErrExists if the name is taken.
func (s *Store) CreateLogGroup(ctx context.Context, g *LogGroup) error {
	return s.createIfAbsent(ctx, logGroupKey(g.Name), g)
}

// GetLogGroup returns the named group, or ErrNotFound.
func (s *Store) GetLogGroup(ctx context.Context, name string) (*LogGroup, error) {
	resp, err := s.Client.Get(ctx, logGroupKey(name))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var g LogGroup
	if err := json.Unmarshal(resp.Kvs[0].Value, &g); err != nil {
		return nil, fmt.Errorf("store: log group %q: %w", name, err)
	}
	g.Revision = resp.Kvs[0].ModRevision
	return &g, nil
}

// ListLogGroups returns every group, ordered by name.
func (s *Store) ListLogGroups(ctx context.Context) ([]*LogGroup, error) {
	return listJSON[LogGroup](ctx, s, logGroupsPrefix)
}

// UpdateLogGroup applies mutate to the named group and writes it back unless
// it changed meanwhile (then it tries again). ErrNotFound if there is none.
func (s *Store) UpdateLogGroup(ctx context.Context, name string, mutate func(*LogGroup) error) (*LogGroup, error) {
	for attempt := 0; attempt < 100; attempt++ {
		g, err := s.GetLogGroup(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := mutate(g); err != nil {
			return nil, err
		}
		txn, err := s.Client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(logGroupKey(name)), "=", g.Revision)).
			Then(putJSON(logGroupKey(name), g)).Commit()
		if err != nil {
			return nil, err
		}
		if txn.Succeeded {
			return g, nil
		}
	}
	return nil, ErrConflict
}

// DeleteLogGroup removes the named group and returns it, or ErrNotFound.
func (s *Store) DeleteLogGroup(ctx context.Context, name string) (*LogGroup, error) {
	resp, err := s.Client.Delete(ctx, logGroupKey(name), clientv3.WithPrevKV())
	if err != nil {
		return nil, err
	}
	if resp.Deleted == 0 || len(resp.PrevKvs) == 0 {
		return nil, ErrNotFound
	}
	var g LogGroup
	if err := json.Unmarshal(resp.PrevKvs[0].Value, &g); err != nil {
		return nil, fmt.Errorf("store: log group %q: %w", name, err)
	}
	return &g, nil
}
