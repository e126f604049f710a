// Package health makes the readiness checks that cjob runs itself: an HTTP
// GET or a TCP connect to a unit's address. Production images often hold no
// shell or tools (every image FROM scratch), so cjob does not rely on a
// check inside the container for these.
package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cjob/cjob/internal/stack"
)

var client = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Probe makes one HTTP or TCP check against ip. It returns nil when the unit
// answers as the check requires: an HTTP status below 400, or an accepted
// connection.
func Probe(ctx context.Context, c *stack.Check, ip string) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(ip, strconv.Itoa(c.Port))
	if c.HTTP != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+c.HTTP, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s", c.HTTP, resp.Status)
		}
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Backoff is the wait between checks while a unit starts: short at first, so
// a fast service is seen ready within tens of milliseconds, growing to the
// check's interval.
func Backoff(attempt int, interval time.Duration) time.Duration {
	d := 25 * time.Millisecond << min(attempt, 8)
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if d > interval {
		d = interval
	}
	return d
}

// Deadline is how long a unit may take to become ready.
func Deadline(c *stack.Check) time.Duration {
	interval := c.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	retries := c.Retries
	if retries <= 0 {
		retries = 30
	}
	return c.StartPeriod + interval*time.Duration(retries)
}
