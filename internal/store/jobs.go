package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// JobState is the desired state of one job, set by operator verbs.
type JobState struct {
	Job     string    `json:"job"`     // service.job
	Desired string    `json:"desired"` // "up" or "down"
	Version int64     `json:"version"` // version last rolled out for this job
	By      string    `json:"by"`
	Updated time.Time `json:"updated"`
}

// JobState returns the state of job, or an error matching ErrNotFound.
func (s *Store) JobState(ctx context.Context, job string) (JobState, error) {
	if job == "" {
		return JobState{}, errors.New("job state: no job name")
	}
	resp, err := s.kv.Get(ctx, s.key(jobsPrefix+job))
	if err != nil {
		return JobState{}, fmt.Errorf("reading state of job %s: %w", job, err)
	}
	if len(resp.Kvs) == 0 {
		return JobState{}, fmt.Errorf("state of job %s: %w", job, ErrNotFound)
	}
	var st JobState
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return JobState{}, fmt.Errorf("state of job %s: %w", job, err)
	}
	return st, nil
}

// JobStates returns the states of all jobs, keyed by job name.
func (s *Store) JobStates(ctx context.Context) (map[string]JobState, error) {
	start := s.key(jobsPrefix)
	resp, err := s.kv.Get(ctx, start, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("reading job states: %w", err)
	}
	out := make(map[string]JobState, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var st JobState
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			return nil, fmt.Errorf("state of %s: %w", kv.Key, err)
		}
		if st.Job == "" {
			st.Job = string(kv.Key[len(start):])
		}
		out[st.Job] = st
	}
	return out, nil
}

// SetJobState stores st, filling Updated (now) when it is zero.
func (s *Store) SetJobState(ctx context.Context, st JobState) error {
	if st.Job == "" {
		return errors.New("set job state: no job name")
	}
	if st.Updated.IsZero() {
		st.Updated = time.Now().UTC().Round(0)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("set state of job %s: %w", st.Job, err)
	}
	if _, err := s.kv.Put(ctx, s.key(jobsPrefix+st.Job), string(b)); err != nil {
		return fmt.Errorf("set state of job %s: %w", st.Job, err)
	}
	return nil
}
