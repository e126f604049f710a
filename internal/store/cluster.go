package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"go.etcd.io/etcd/server/v3/embed"
)

// Cluster is a real multi-member etcd cluster running in this process, for
// end-to-end tests: each member has its own data dir and loopback ports.
// Members are numbered from 0; member i is named m<i+1>. The members are
// tuned for tests (short election timeout, no fsync) and are not meant for
// production data.
type Cluster struct {
	mu      sync.Mutex
	members []*clusterMember
}

type clusterMember struct {
	spec memberSpec
	etcd *embed.Etcd // nil while stopped
}

// StartCluster starts n members forming one cluster, with data under
// dir/m1 … dir/m<n> and logs in dir/m<i>.log, and waits until all are ready.
func StartCluster(dir string, n int) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("start cluster: %d members", n)
	}
	urls, err := freeLoopbackURLs(2 * n)
	if err != nil {
		return nil, err
	}
	var tok [4]byte
	rand.Read(tok[:])
	token := "cjob-test-" + hex.EncodeToString(tok[:])
	var initial []string
	c := &Cluster{}
	for i := range n {
		name := fmt.Sprintf("m%d", i+1)
		spec := memberSpec{
			name:      name,
			dir:       filepath.Join(dir, name),
			logFile:   filepath.Join(dir, name+".log"),
			clientURL: urls[2*i],
			peerURL:   urls[2*i+1],
			token:     token,
			test:      true,
		}
		initial = append(initial, name+"="+spec.peerURL)
		c.members = append(c.members, &clusterMember{spec: spec})
	}
	for _, m := range c.members {
		m.spec.initialCluster = strings.Join(initial, ",")
	}
	// Members become ready only once a quorum is up, so start them all at
	// once.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.etcd, errs[i] = startMember(context.Background(), m.spec)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, fmt.Errorf("start cluster in %s: %w", dir, err)
	}
	return c, nil
}

// Endpoints returns the client URLs of all members (running or not).
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.spec.clientURL
	}
	return eps
}

func (c *Cluster) member(i int) (*clusterMember, error) {
	if i < 0 || i >= len(c.members) {
		return nil, fmt.Errorf("cluster: no member %d (have 0..%d)", i, len(c.members)-1)
	}
	return c.members[i], nil
}

// Stop stops member i, keeping its data.
func (c *Cluster) Stop(i int) error { return c.stop(i, false) }

// Kill stops member i abruptly, like a crash: without handing over its
// leadership and without draining client requests. Its data is kept.
func (c *Cluster) Kill(i int) error { return c.stop(i, true) }

func (c *Cluster) stop(i int, hard bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.member(i)
	if err != nil {
		return err
	}
	if m.etcd == nil {
		return fmt.Errorf("cluster: member %s is not running", m.spec.name)
	}
	if hard {
		m.etcd.Server.HardStop()
	}
	m.etcd.Close()
	m.etcd = nil
	return nil
}

// Restart starts the stopped member i again from its data, on the same
// ports, and waits until it has rejoined the cluster.
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.member(i)
	if err != nil {
		return err
	}
	if m.etcd != nil {
		return fmt.Errorf("cluster: member %s is running", m.spec.name)
	}
	e, err := startMember(context.Background(), m.spec)
	if err != nil {
		return err
	}
	m.etcd = e
	return nil
}

// Leader returns the index of the member that currently leads the cluster,
// as seen by the running members, or -1 if none is known.
func (c *Cluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.etcd == nil {
			continue
		}
		lead := m.etcd.Server.Leader()
		for j, o := range c.members {
			if o.etcd != nil && o.etcd.Server.MemberID() == lead {
				return j
			}
		}
	}
	return -1
}

// Close stops all running members. It stops them abruptly (as Kill does,
// but all at once): a graceful stop of several members would wait for
// leadership transfers to members that are going away too.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.etcd != nil {
			m.etcd.Server.HardStop()
		}
	}
	var wg sync.WaitGroup
	for _, m := range c.members {
		if m.etcd == nil {
			continue
		}
		wg.Add(1)
		go func(e *embed.Etcd) {
			defer wg.Done()
			e.Close()
		}(m.etcd)
		m.etcd = nil
	}
	wg.Wait()
}
