package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is one entry of the audit log.
type Event struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Who     string    `json:"who"`
	Action  string    `json:"action"`           // "push", "up", "down", "reload", "update", "rolling-update", "rollback", "outdated", ...
	Target  string    `json:"target,omitempty"` // job name, or "" for the whole file
	Version int64     `json:"version,omitempty"`
	Result  string    `json:"result"` // "ok", "failed", "refused", "rolled back", ...
	Detail  string    `json:"detail,omitempty"`
}

// EventID returns an event ID for time t: the zero-padded unix nanoseconds,
// so IDs sort by time, and a random suffix that keeps simultaneous events
// apart.
func EventID(t time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%020d-%s", t.UnixNano(), hex.EncodeToString(b[:]))
}

// AddEvent appends e to the audit log, filling Time (now) and ID (from Time)
// when they are zero, and returns the stored event.
func (s *Store) AddEvent(ctx context.Context, e Event) (Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC().Round(0)
	}
	if e.ID == "" {
		e.ID = EventID(e.Time)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return Event{}, fmt.Errorf("adding event: %w", err)
	}
	key := s.key(eventsPrefix + e.ID)
	resp, err := s.kv.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).
		Commit()
	if err != nil {
		return Event{}, fmt.Errorf("adding event: %w", err)
	}
	if !resp.Succeeded {
		return Event{}, fmt.Errorf("adding event: event %s exists already", e.ID)
	}
	return e, nil
}

// EventFilter selects events for Events.
type EventFilter struct {
	Limit  int    // at most this many; 0: 200; negative: all
	Target string // only events with this target
	Action string // only events with this action
}

// DefaultEventLimit is the number of events Events returns when
// EventFilter.Limit is 0.
const DefaultEventLimit = 200

// eventPage is the number of events read per request while filtering (a
// variable for tests).
var eventPage = 500

// Events returns events newest first, filtered by f.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultEventLimit
	}
	start := s.key(eventsPrefix)
	end := clientv3.GetPrefixRangeEnd(start)
	var out []Event
	for {
		page := int64(eventPage)
		if f.Target == "" && f.Action == "" && limit > 0 {
			page = int64(limit - len(out))
		}
		resp, err := s.kv.Get(ctx, start,
			clientv3.WithRange(end),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend),
			clientv3.WithLimit(page))
		if err != nil {
			return nil, fmt.Errorf("reading events: %w", err)
		}
		for _, kv := range resp.Kvs {
			var e Event
			if err := json.Unmarshal(kv.Value, &e); err != nil {
				return nil, fmt.Errorf("event %s: %w", kv.Key, err)
			}
			if f.Target != "" && e.Target != f.Target || f.Action != "" && e.Action != f.Action {
				continue
			}
			out = append(out, e)
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key) // exclusive: continue below it
	}
}

// PruneEvents deletes the events older than before and returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	start := s.key(eventsPrefix)
	resp, err := s.kv.Delete(ctx, start, clientv3.WithRange(start+fmt.Sprintf("%020d", before.UnixNano())))
	if err != nil {
		return 0, fmt.Errorf("pruning events: %w", err)
	}
	return resp.Deleted, nil
}
