package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// prober probes a list of URLs and remembers the last results.
type prober struct {
	c        *config
	targets  []upstream
	interval time.Duration

	mu     sync.Mutex
	last   []callResult
	at     time.Time
	rounds int
}

// buildProber: every PROBE_INTERVAL (2s) GETs each URL of PROBE_URLS
// (comma separated) and serves the last results at GET /, which answers 502
// while any probe fails. Changes of state are logged.
func buildProber(c *config) (*service, error) {
	var targets []upstream
	for _, f := range strings.Split(c.getenv("PROBE_URLS"), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		u, err := url.Parse(f)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("PROBE_URLS: %q is not an http:// URL", f)
		}
		targets = append(targets, upstream{name: u.Host, url: f})
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("PROBE_URLS is not set (e.g. PROBE_URLS=http://gateway.edge.coding.local:8080/healthz)")
	}
	interval, err := c.duration("PROBE_INTERVAL", 2*time.Second)
	if err != nil {
		return nil, err
	}
	p := &prober{c: c, targets: targets, interval: interval}
	return &service{info: p.stats, ok: p.allOK, background: []func(context.Context){p.loop}}, nil
}

func (p *prober) loop(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round probes every target once and logs each that went up or down.
func (p *prober) round(ctx context.Context) {
	results := p.c.callAll(ctx, p.targets)
	if ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	prev := p.last
	p.last, p.at = results, time.Now()
	p.rounds++
	p.mu.Unlock()
	for i, r := range results {
		if prev != nil && prev[i].OK == r.OK {
			continue
		}
		if r.OK {
			p.c.logf("prober: UP   %s", r.URL)
		} else {
			p.c.logf("prober: DOWN %s: %s", r.URL, r.Error)
		}
	}
}

func (p *prober) stats() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := map[string]any{"rounds": p.rounds, "interval": p.interval.String()}
	if p.last != nil {
		s["probes"] = append([]callResult{}, p.last...)
		s["checked_at"] = p.at.Format(time.RFC3339)
	} else {
		s["probes"] = []callResult{}
	}
	return s
}

func (p *prober) allOK() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.last {
		if !r.OK {
			return false
		}
	}
	return true
}
