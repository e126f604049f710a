package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const actionsPrefix = "actions/"

// Action is an operation on production in progress: written before it
// starts changing anything and removed when it ends, so a server that
// stopped in the middle (killed, its machine lost) finds it when it starts
// again and says what was left.
type Action struct {
	Job     string    `json:"job"` // full name; "*" for every job (up --all, deploy)
	Action  string    `json:"action"`
	By      string    `json:"by"`
	Version int64     `json:"version"` // the version it rolls out
	Started time.Time `json:"started"`
}

// BeginAction records a in the journal (keyed by job).
func (s *Store) BeginAction(ctx context.Context, a Action) error {
	if a.Job == "" {
		return errors.New("begin action: no job")
	}
	if a.Started.IsZero() {
		a.Started = time.Now().UTC().Round(0)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, s.key(actionsPrefix+a.Job), string(b)); err != nil {
		return fmt.Errorf("record %s of %s: %w", a.Action, a.Job, err)
	}
	return nil
}

// EndAction removes the job's action from the journal.
func (s *Store) EndAction(ctx context.Context, job string) error {
	if _, err := s.kv.Delete(ctx, s.key(actionsPrefix+job)); err != nil {
		return fmt.Errorf("end the action on %s: %w", job, err)
	}
	return nil
}

// Actions are the actions in the journal: those in progress, or left by a
// server that stopped.
func (s *Store) Actions(ctx context.Context) ([]Action, error) {
	resp, err := s.kv.Get(ctx, s.key(actionsPrefix), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("reading actions: %w", err)
	}
	var out []Action
	for _, kv := range resp.Kvs {
		var a Action
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("action %s: %w", kv.Key, err)
		}
		out = append(out, a)
	}
	return out, nil
}
