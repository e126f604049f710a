package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Version is one pushed version of the jobs file.
type Version struct {
	Number   int64     `json:"number"`
	Previous int64     `json:"previous"` // head before this push; 0 for the first
	Base     int64     `json:"base"`     // version the pusher based it on
	Hash     string    `json:"hash"`     // "sha256:<hex>" of File
	Author   string    `json:"author"`
	Message  string    `json:"message"`
	Kind     string    `json:"kind"` // "push", "update", "rollback", ...; default "push"
	Forced   bool      `json:"forced,omitempty"`
	Time     time.Time `json:"time"`
	File     string    `json:"file,omitempty"` // the rendered jobs file
}

// PushRequest asks Push to store a new version.
type PushRequest struct {
	File, Author, Message, Kind string
	// Base is the version this file was based on (0: the store is
	// expected to be empty).
	Base int64
	// Force pushes even if the head moved past Base. The push is still
	// atomic against the head read at push time.
	Force bool
}

// ErrConflict is matched (errors.Is) by every *ConflictError.
var ErrConflict = errors.New("version conflict")

// ConflictError reports that the head moved since the version a push was
// based on.
type ConflictError struct {
	Base int64   // the version the push was based on
	Head Version // the current head, without File
}

func (e *ConflictError) Error() string {
	h := e.Head
	const hint = "; review it (cjob diff) and push again, or push --force"
	if h.Number == 0 {
		return fmt.Sprintf("this push was based on version %d, but the store has no versions; push --force to store it as version 1", e.Base)
	}
	author := h.Author
	if author == "" {
		author = "an unknown author"
	}
	var b strings.Builder
	if h.Number < e.Base {
		fmt.Fprintf(&b, "this push was based on version %d, but the newest version is %d, pushed by %s at %s",
			e.Base, h.Number, author, h.Time.UTC().Format(timeLayout))
		if h.Message != "" {
			fmt.Fprintf(&b, " (%q)", h.Message)
		}
		b.WriteString(hint)
		return b.String()
	}
	fmt.Fprintf(&b, "version %d was pushed by %s at %s", h.Number, author, h.Time.UTC().Format(timeLayout))
	if h.Message != "" {
		fmt.Fprintf(&b, " (%q)", h.Message)
	}
	if e.Base == 0 {
		b.WriteString(", but this push expected an empty store")
	} else {
		fmt.Fprintf(&b, " since version %d, which this push was based on", e.Base)
	}
	if d := h.Number - e.Base; d > 1 {
		fmt.Fprintf(&b, " (%d new versions)", d)
	}
	b.WriteString(hint)
	return b.String()
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

const timeLayout = "2006-01-02 15:04:05 MST"

// Hash returns the content hash Push records for file, "sha256:<hex>".
func Hash(file string) string {
	sum := sha256.Sum256([]byte(file))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// maxPushAttempts bounds the compare-and-swap retries of one Push.
const maxPushAttempts = 8

// Push stores a new version in one etcd transaction, guarded by the head as
// read at push time.
//
// If the file is identical to the head's (same hash) and r.Force is false,
// nothing is stored and Push returns the head (with File) and false. If the
// head is not r.Base and r.Force is false, Push returns a *ConflictError;
// of several concurrent pushes on the same base exactly one wins. With
// r.Force, Push retries against the current head until its transaction
// succeeds (a few attempts). On success it returns the new version (with
// File) and true.
//
// An error other than a conflict (e.g. a timeout) may leave it unknown
// whether the version was stored; it is then either stored completely or
// not at all.
func (s *Store) Push(ctx context.Context, r PushRequest) (Version, bool, error) {
	if r.Base < 0 {
		return Version{}, false, fmt.Errorf("push: invalid base version %d", r.Base)
	}
	kind := r.Kind
	if kind == "" {
		kind = "push"
	}
	hash := Hash(r.File)
	headKey := s.key(headKey)
	for attempt := 1; ; attempt++ {
		head, headRev, err := s.readHead(ctx)
		if err != nil {
			return Version{}, false, err
		}
		if !r.Force && head.Number > 0 && head.Hash == hash {
			head.File = r.File
			return head, false, nil
		}
		if !r.Force && head.Number != r.Base {
			return Version{}, false, &ConflictError{Base: r.Base, Head: head}
		}
		v := Version{
			Number:   head.Number + 1,
			Previous: head.Number,
			Base:     r.Base,
			Hash:     hash,
			Author:   r.Author,
			Message:  r.Message,
			Kind:     kind,
			Forced:   r.Force,
			Time:     time.Now().UTC().Round(0),
		}
		meta, err := json.Marshal(v)
		if err != nil {
			return Version{}, false, fmt.Errorf("push: %w", err)
		}
		headCmp := clientv3.Compare(clientv3.ModRevision(headKey), "=", headRev)
		if headRev == 0 {
			headCmp = clientv3.Compare(clientv3.CreateRevision(headKey), "=", 0)
		}
		resp, err := s.kv.Txn(ctx).
			If(headCmp, clientv3.Compare(clientv3.CreateRevision(s.metaKey(v.Number)), "=", 0)).
			Then(
				clientv3.OpPut(s.metaKey(v.Number), string(meta)),
				clientv3.OpPut(s.fileKey(v.Number), r.File),
				clientv3.OpPut(headKey, strconv.FormatInt(v.Number, 10)),
			).
			Else(clientv3.OpGet(headKey)).
			Commit()
		if err != nil {
			return Version{}, false, fmt.Errorf("push of version %d: %w (it may or may not have been stored; check the head)", v.Number, err)
		}
		if resp.Succeeded {
			v.File = r.File
			return v, true, nil
		}
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) == 0 && headRev == 0 ||
			len(kvs) == 1 && kvs[0].ModRevision == headRev {
			// The head did not move, so the version keys exist already.
			return Version{}, false, fmt.Errorf("push: version %d exists although the head is %d; the store under %s is inconsistent", v.Number, head.Number, s.prefix)
		}
		if attempt >= maxPushAttempts {
			return Version{}, false, fmt.Errorf("push: the head kept moving; gave up after %d attempts", attempt)
		}
		if r.Force {
			// Several forced pushes racing: spread them out a little.
			select {
			case <-time.After(time.Duration(rand.IntN(20*attempt)) * time.Millisecond):
			case <-ctx.Done():
				return Version{}, false, fmt.Errorf("push: %w", ctx.Err())
			}
		}
		// Without Force the next round returns a conflict (or finds the
		// same file already pushed).
	}
}

// readHead returns the head's metadata (zero Version for an empty store) and
// the head key's mod revision (0 when absent).
func (s *Store) readHead(ctx context.Context) (Version, int64, error) {
	n, rev, _, err := s.headNumber(ctx)
	if err != nil || n == 0 {
		return Version{}, rev, err
	}
	v, err := s.readMeta(ctx, n)
	if err != nil {
		return Version{}, 0, fmt.Errorf("head version: %w", err)
	}
	return v, rev, nil
}

// headNumber reads the head key: the head number (0 if none), the key's mod
// revision (0 if none) and the store revision of the read.
func (s *Store) headNumber(ctx context.Context) (n, modRev, storeRev int64, err error) {
	resp, err := s.kv.Get(ctx, s.key(headKey))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("reading head: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, 0, resp.Header.Revision, nil
	}
	n, err = parseHead(resp.Kvs[0].Value)
	if err != nil {
		return 0, 0, 0, err
	}
	return n, resp.Kvs[0].ModRevision, resp.Header.Revision, nil
}

func parseHead(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("head key holds %q, not a version number", b)
	}
	return n, nil
}

func (s *Store) readMeta(ctx context.Context, n int64) (Version, error) {
	resp, err := s.kv.Get(ctx, s.metaKey(n))
	if err != nil {
		return Version{}, fmt.Errorf("reading version %d: %w", n, err)
	}
	if len(resp.Kvs) == 0 {
		return Version{}, fmt.Errorf("version %d: %w", n, ErrNotFound)
	}
	return decodeMeta(n, resp.Kvs[0].Value)
}

func decodeMeta(n int64, b []byte) (Version, error) {
	var v Version
	if err := json.Unmarshal(b, &v); err != nil {
		return Version{}, fmt.Errorf("version %d: bad metadata: %w", n, err)
	}
	return v, nil
}

// Head returns the newest version, with File, or an error matching ErrEmpty
// when nothing has been pushed yet.
func (s *Store) Head(ctx context.Context) (Version, error) {
	n, _, _, err := s.headNumber(ctx)
	if err != nil {
		return Version{}, err
	}
	if n == 0 {
		return Version{}, ErrEmpty
	}
	return s.Version(ctx, n)
}

// Version returns version n with File, or an error matching ErrNotFound.
func (s *Store) Version(ctx context.Context, n int64) (Version, error) {
	if n <= 0 {
		return Version{}, fmt.Errorf("version %d: %w", n, ErrNotFound)
	}
	// One range read returns both keys of the version.
	resp, err := s.kv.Get(ctx, s.versionDir(n), clientv3.WithPrefix())
	if err != nil {
		return Version{}, fmt.Errorf("reading version %d: %w", n, err)
	}
	var (
		v       Version
		gotMeta bool
		file    string
	)
	for _, kv := range resp.Kvs {
		switch string(kv.Key) {
		case s.metaKey(n):
			if v, err = decodeMeta(n, kv.Value); err != nil {
				return Version{}, err
			}
			gotMeta = true
		case s.fileKey(n):
			file = string(kv.Value)
		}
	}
	if !gotMeta {
		return Version{}, fmt.Errorf("version %d: %w", n, ErrNotFound)
	}
	v.File = file
	return v, nil
}

// ListOptions select versions for Versions.
type ListOptions struct {
	Limit  int   // at most this many; 0: all
	Before int64 // >0: only versions numbered below Before
}

// metaBatch is the number of metadata reads per transaction (etcd allows 128
// operations per transaction by default; a variable for tests).
var metaBatch = 100

// Versions lists versions newest first, without File. It reads the version
// keys only, then the small metadata keys, never the files.
func (s *Store) Versions(ctx context.Context, o ListOptions) ([]Version, error) {
	start := s.key(versionsPrefix)
	end := clientv3.GetPrefixRangeEnd(start)
	if o.Before > 0 {
		end = s.versionDir(o.Before)
	}
	opts := []clientv3.OpOption{
		clientv3.WithRange(end),
		clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend),
	}
	if o.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(2*o.Limit))) // meta and file per version
	}
	resp, err := s.kv.Get(ctx, start, opts...)
	if err != nil {
		return nil, fmt.Errorf("listing versions: %w", err)
	}
	var nums []int64
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), start)
		num, ok := strings.CutSuffix(rel, "/meta")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		nums = append(nums, n)
		if o.Limit > 0 && len(nums) == o.Limit {
			break
		}
	}
	out := make([]Version, 0, len(nums))
	for i := 0; i < len(nums); i += metaBatch {
		batch := nums[i:min(i+metaBatch, len(nums))]
		ops := make([]clientv3.Op, len(batch))
		for j, n := range batch {
			ops[j] = clientv3.OpGet(s.metaKey(n))
		}
		tr, err := s.kv.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("listing versions: %w", err)
		}
		for j, r := range tr.Responses {
			kvs := r.GetResponseRange().GetKvs()
			if len(kvs) == 0 {
				continue // cannot happen: versions are never deleted
			}
			v, err := decodeMeta(batch[j], kvs[0].Value)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// WatchHead sends every head version (with File) pushed after the call, in
// order and without gaps: when the head jumps by several versions, the ones
// in between are read and sent too. The watch is re-established after errors
// and compaction, catching up on what it missed. The channel is closed when
// ctx is done.
func (s *Store) WatchHead(ctx context.Context) <-chan Version {
	ch := make(chan Version)
	// Read the head now, so that "after the call" holds even if the
	// goroutine starts late.
	last, rev := int64(-1), int64(0)
	if n, _, storeRev, err := s.headNumber(ctx); err == nil {
		last, rev = n, storeRev
	} else if ctx.Err() == nil {
		s.logf("store: watching head: %v; retrying", err)
	}
	go s.watchHead(ctx, ch, last, rev)
	return ch
}

func (s *Store) watchHead(ctx context.Context, ch chan<- Version, last, rev int64) {
	defer close(ch)
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	sleep := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		if last < 0 {
			n, _, storeRev, err := s.headNumber(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.logf("store: watching head: %v; retrying", err)
				}
				if !sleep() {
					return
				}
				continue
			}
			last, rev = n, storeRev
		}
		err := s.watchOnce(ctx, ch, &last, &rev)
		if ctx.Err() != nil {
			return
		}
		s.logf("store: head watch interrupted: %v; re-establishing", err)
		if !sleep() {
			return
		}
		// Catch up on versions pushed while not watching and resume
		// from the revision of that read (which may be past a
		// compaction).
		n, _, storeRev, err := s.headNumber(ctx)
		if err != nil {
			continue
		}
		if err := s.sendUpTo(ctx, ch, &last, n); err != nil {
			continue
		}
		rev = storeRev
		backoff = 100 * time.Millisecond
	}
}

// watchOnce watches the head key from revision *rev+1 until the watch fails.
func (s *Store) watchOnce(ctx context.Context, ch chan<- Version, last, rev *int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.cli.Watch(wctx, s.key(headKey), clientv3.WithRev(*rev+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			n, err := parseHead(ev.Kv.Value)
			if err != nil {
				s.logf("store: watching head: %v", err)
				continue
			}
			if err := s.sendUpTo(ctx, ch, last, n); err != nil {
				return err
			}
			*rev = ev.Kv.ModRevision
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("watch closed")
}

// sendUpTo sends versions *last+1 … n and advances *last.
func (s *Store) sendUpTo(ctx context.Context, ch chan<- Version, last *int64, n int64) error {
	if n < *last {
		s.logf("store: head went back from version %d to %d (store reset?)", *last, n)
		*last = n - 1
	}
	for *last < n {
		v, err := s.Version(ctx, *last+1)
		if errors.Is(err, ErrNotFound) {
			s.logf("store: watching head: %v; skipping it", err)
			*last++
			continue
		}
		if err != nil {
			return err
		}
		select {
		case ch <- v:
			*last = v.Number
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
