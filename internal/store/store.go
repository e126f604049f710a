package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Defaults for Options.
const (
	DefaultPrefix      = "/cjob/"
	DefaultDialTimeout = 5 * time.Second
)

// Options configure Open.
type Options struct {
	// Endpoints of an existing etcd cluster, e.g. http://127.0.0.1:2379.
	// Empty: start an embedded member in DataDir/etcd.
	Endpoints []string
	// DataDir holds the embedded member (DataDir/etcd, DataDir/etcd.log,
	// DataDir/etcd-urls.json). Required when Endpoints is empty.
	DataDir string
	// ClientURL the embedded member listens on. Empty: the URL remembered
	// in DataDir, or else a free loopback port.
	ClientURL string
	// PeerURL of the embedded member. Empty: the URL remembered in DataDir,
	// or else a free loopback port.
	PeerURL string
	// Prefix of all keys; default "/cjob/".
	Prefix string
	// DialTimeout bounds connecting and the connectivity check in Open;
	// default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds every request to etcd (DefaultRequestTimeout
	// when zero): a cluster that has lost its quorum makes requests fail
	// with ErrUnavailable after it instead of hanging.
	RequestTimeout time.Duration
	// Logf, if set, receives progress lines such as
	// "etcd: embedded member ready at ...".
	Logf func(format string, args ...any)
}

// ErrNotFound reports a missing version or job state; errors wrap it with
// context, test with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrEmpty reports that no version has been pushed yet.
var ErrEmpty = errors.New("no version pushed yet")

// Store is a connection to the etcd-backed store. It is safe for concurrent
// use.
type Store struct {
	cli       *clientv3.Client
	kv        *bounded        // every request but the watch goes through it
	member    *embeddedMember // nil for an external cluster
	prefix    string
	endpoints []string
	id        string // the store's identity (ID)
	timeout   time.Duration
	logf      func(format string, args ...any)
	closeOnce sync.Once
	closeErr  error
}

// Open connects to the cluster in o.Endpoints, or starts an embedded member
// in o.DataDir when there are none, and checks that the cluster answers.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	s := &Store{prefix: o.Prefix, timeout: o.DialTimeout, logf: o.Logf}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	endpoints := o.Endpoints
	if len(endpoints) == 0 {
		m, err := startEmbedded(ctx, o)
		if err != nil {
			return nil, err
		}
		s.member = m
		endpoints = []string{m.clientURL}
	}
	s.endpoints = append([]string(nil), endpoints...)

	fail := func(err error) (*Store, error) {
		if s.cli != nil {
			s.cli.Close()
		}
		if s.member != nil {
			s.member.close()
		}
		return nil, err
	}
	where := "etcd at " + strings.Join(s.endpoints, ",")
	hint := "; start the cluster or leave out --etcd to run an embedded member"
	if s.member != nil {
		where = "embedded etcd at " + s.endpoints[0]
		hint = "; see " + o.DataDir + "/etcd.log"
	}
	for _, ep := range s.endpoints {
		if _, err := url.Parse(ep); err != nil || !strings.Contains(ep, "://") {
			return fail(fmt.Errorf("etcd endpoint %q: want a URL such as http://127.0.0.1:2379", ep))
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   s.endpoints,
		DialTimeout: o.DialTimeout,
		Logger:      zap.NewNop(),
		// Keepalives let the client notice a dead member and fail over.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	})
	if err != nil {
		return fail(fmt.Errorf("%s: %w%s", where, err, hint))
	}
	s.cli = cli
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	s.kv = &bounded{cli: cli, timeout: o.RequestTimeout, endpoints: s.endpoints}

	// A linearizable read needs a leader and a quorum: exactly what the
	// store needs to work.
	cctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	_, err = cli.Get(cctx, s.key(headKey))
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return fail(fmt.Errorf("%s: %w", where, ctx.Err()))
		}
		return fail(fmt.Errorf("%s: not reachable within %s: %s%s", where, o.DialTimeout, diagnose(s.endpoints, err), hint))
	}
	if s.member == nil {
		s.logf("etcd: connected to %s", strings.Join(s.endpoints, ","))
	}
	if err := s.ensureID(ctx); err != nil {
		return fail(fmt.Errorf("%s: %w", where, err))
	}
	return s, nil
}

// idKey holds the store's identity, written once when the store is made.
const idKey = "id"

// ensureID reads the store's identity, making it (once, in a transaction:
// two servers starting on a new cluster agree) if the store has none.
func (s *Store) ensureID(ctx context.Context) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	key := s.key(idKey)
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, hex.EncodeToString(b[:]))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("store identity: %w", err)
	}
	s.id = hex.EncodeToString(b[:])
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return errors.New("store identity: written and gone")
		}
		s.id = string(kvs[0].Value)
	}
	return nil
}

// ID is the store's identity: made when the store is made, the same for
// every server on it and across restarts, new when the store is replaced
// (a new data directory, a new cluster, a backup restored elsewhere). The
// CLI keys the version it last pushed by it.
func (s *Store) ID() string { return s.id }

// diagnose improves on "context deadline exceeded" by trying a plain TCP
// connection to each endpoint.
func diagnose(endpoints []string, err error) string {
	if !errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	return probe(endpoints, err.Error())
}

// probe says which endpoints refuse connections and which accept them but
// do not answer, after what (if not empty).
func probe(endpoints []string, what string) string {
	var refused, silent []string
	for _, ep := range endpoints {
		u, perr := url.Parse(ep)
		if perr != nil || u.Host == "" {
			continue
		}
		c, derr := net.DialTimeout("tcp", u.Host, time.Second)
		if derr != nil {
			refused = append(refused, derr.Error())
			continue
		}
		c.Close()
		silent = append(silent, u.Host)
	}
	const noAnswer = "accepting connections, but the cluster does not answer (no leader or no quorum?)"
	var parts []string
	switch {
	case len(silent) == 0 && len(refused) > 0:
		return strings.Join(refused, "; ")
	case len(refused) == 0:
		parts = append(parts, what, noAnswer)
	default:
		parts = append(parts, strings.Join(refused, "; "), strings.Join(silent, ", ")+" "+noAnswer)
	}
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), "; ")
}

// Close closes the client and stops the embedded member, if any.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.cli != nil {
			s.closeErr = s.cli.Close()
		}
		if s.member != nil {
			s.member.close()
		}
	})
	return s.closeErr
}

// Endpoints returns the client endpoints in use (embedded: its client URL).
func (s *Store) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// Embedded reports whether the store runs its own embedded member.
func (s *Store) Embedded() bool { return s.member != nil }

// Prefix returns the key prefix, ending in "/".
func (s *Store) Prefix() string { return s.prefix }

// Client returns the underlying etcd client, e.g. for leases or elections.
// Keys written through it should stay outside the store's key layout.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Key layout, relative to the prefix.
const (
	headKey        = "head"
	versionsPrefix = "versions/"
	eventsPrefix   = "events/"
	jobsPrefix     = "jobs/"
)

func (s *Store) key(rel string) string { return s.prefix + rel }

// versionDir is the common prefix of version n's keys, "versions/<n>/".
func (s *Store) versionDir(n int64) string {
	return s.key(fmt.Sprintf("%s%012d/", versionsPrefix, n))
}

func (s *Store) metaKey(n int64) string { return s.versionDir(n) + "meta" }
func (s *Store) fileKey(n int64) string { return s.versionDir(n) + "file" }
