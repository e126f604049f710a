package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultRequestTimeout bounds one request to etcd.
const DefaultRequestTimeout = 10 * time.Second

// ErrUnavailable reports that etcd did not answer a request in time, or
// answered that it has no leader: the cluster has lost its quorum, or every
// member is down. Errors wrap it with the endpoints and a diagnosis; test
// with errors.Is. The store needs nothing done when the cluster comes back:
// the next request goes through.
var ErrUnavailable = errors.New("etcd is unavailable")

// bounded is the store's view of etcd: every request is bounded by the
// request timeout (or the caller's deadline, if sooner), and a request that
// fails because the cluster cannot answer returns an error wrapping
// ErrUnavailable instead of waiting for as long as the caller would.
type bounded struct {
	cli       *clientv3.Client
	timeout   time.Duration
	endpoints []string
}

func (b *bounded) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.cli.Get(cctx, key, opts...)
	return resp, b.explain(ctx, cctx, err)
}

func (b *bounded) Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.cli.Put(cctx, key, val, opts...)
	return resp, b.explain(ctx, cctx, err)
}

func (b *bounded) Delete(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.DeleteResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.cli.Delete(cctx, key, opts...)
	return resp, b.explain(ctx, cctx, err)
}

// Txn starts a transaction; its Commit is bounded like any other request.
func (b *bounded) Txn(ctx context.Context) *txn { return &txn{b: b, ctx: ctx} }

type txn struct {
	b                *bounded
	ctx              context.Context
	cmps             []clientv3.Cmp
	thenOps, elseOps []clientv3.Op
}

func (t *txn) If(cs ...clientv3.Cmp) *txn   { t.cmps = append(t.cmps, cs...); return t }
func (t *txn) Then(ops ...clientv3.Op) *txn { t.thenOps = append(t.thenOps, ops...); return t }
func (t *txn) Else(ops ...clientv3.Op) *txn { t.elseOps = append(t.elseOps, ops...); return t }

func (t *txn) Commit() (*clientv3.TxnResponse, error) {
	cctx, cancel := context.WithTimeout(t.ctx, t.b.timeout)
	defer cancel()
	resp, err := t.b.cli.Txn(cctx).If(t.cmps...).Then(t.thenOps...).Else(t.elseOps...).Commit()
	return resp, t.b.explain(t.ctx, cctx, err)
}

// explain turns a request that ran out of the store's own time, or that etcd
// refused for want of a leader, into an ErrUnavailable naming the
// endpoints. A caller's own cancellation or deadline is returned as it is.
func (b *bounded) explain(caller, bounded context.Context, err error) error {
	if err == nil || caller.Err() != nil {
		return err
	}
	noLeader := errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrTimeout) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) || errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) ||
		strings.Contains(err.Error(), "no leader")
	if !noLeader && bounded.Err() == nil {
		return err
	}
	why := fmt.Sprintf("no answer within %s", b.timeout)
	if noLeader {
		why = err.Error()
	}
	return fmt.Errorf("%w: etcd at %s: %s (%s); bring the members back: the server goes on by itself when a quorum answers",
		ErrUnavailable, strings.Join(b.endpoints, ","), why, probe(b.endpoints, ""))
}
