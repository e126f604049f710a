package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
)

// Client talks to a cjob server.
type Client struct {
	Base   string // http://127.0.0.1:2017
	Token  string // for mutations
	Author string // who is asking, recorded in versions and events
	HTTP   *http.Client
}

// NewClient makes a client for a server address: host:port or a URL
// (https:// for a server with --tls-cert).
func NewClient(addr, token, author string) *Client {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, Author: author, HTTP: &http.Client{}}
}

// TrustCA makes the client trust the CA in a PEM file besides the system's
// (a server with its own certificate).
func (c *Client) TrustCA(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("CA certificate %s: no PEM certificate in it", path)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.HTTP = &http.Client{Transport: t}
	return nil
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	Body Error
}

func (e *StatusError) Error() string {
	msg := e.Body.Error
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	if e.Body.Hint != "" {
		msg += "\n  " + e.Body.Hint
	}
	return msg
}

// ErrUnreachable wraps a failure to reach the server at all.
var ErrUnreachable = errors.New("server unreachable")

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, in any, accept string) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+Prefix+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Author != "" {
		req.Header.Set("X-Cjob-Author", c.Author)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) {
			return nil, fmt.Errorf("%w: %s: %v\n  start one with `cjob server`, or name another with --host (or CJOB_HOST)", ErrUnreachable, c.Base, err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		se := &StatusError{Code: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &se.Body) != nil || se.Body.Error == "" {
			se.Body.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
		}
		return nil, se
	}
	return resp, nil
}

// Info is the server's summary.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	return out, c.do(ctx, "GET", "/info", nil, &out)
}

// Push stores a new version.
func (c *Client) Push(ctx context.Context, r PushRequest) (PushResult, error) {
	var out PushResult
	return out, c.do(ctx, "POST", "/versions", r, &out)
}

// Versions lists versions, newest first (limit 0: the server's default).
func (c *Client) Versions(ctx context.Context, limit int) ([]store.Version, error) {
	var out []store.Version
	return out, c.do(ctx, "GET", fmt.Sprintf("/versions?limit=%d", limit), nil, &out)
}

// Version returns one version (n 0: the head) with its masked file and diff.
func (c *Client) Version(ctx context.Context, n int64) (VersionDetail, error) {
	var out VersionDetail
	p := "/versions/head"
	if n > 0 {
		p = fmt.Sprintf("/versions/%d", n)
	}
	return out, c.do(ctx, "GET", p, nil, &out)
}

// Jobs is every job's state; fresh asks the server to poll the hosts first.
func (c *Client) Jobs(ctx context.Context, fresh bool) ([]status.Job, error) {
	var out []status.Job
	p := "/jobs"
	if fresh {
		p += "?fresh=1"
	}
	return out, c.do(ctx, "GET", p, nil, &out)
}

// Job is one job's state.
func (c *Client) Job(ctx context.Context, job string, fresh bool) (status.Job, error) {
	var out status.Job
	p := "/jobs/" + url.PathEscape(job)
	if fresh {
		p += "?fresh=1"
	}
	return out, c.do(ctx, "GET", p, nil, &out)
}

// History lists the versions in which a job changed, newest first.
func (c *Client) History(ctx context.Context, job string) ([]JobHistory, error) {
	var out []JobHistory
	return out, c.do(ctx, "GET", "/jobs/"+url.PathEscape(job)+"/history", nil, &out)
}

// Tags lists the registry's tags of a job's image.
func (c *Client) Tags(ctx context.Context, job string) (Tags, error) {
	var out Tags
	return out, c.do(ctx, "GET", "/jobs/"+url.PathEscape(job)+"/tags", nil, &out)
}

// Diff is how what runs differs from the pushed version.
func (c *Client) Diff(ctx context.Context) ([]JobDiff, error) {
	var out []JobDiff
	return out, c.do(ctx, "GET", "/diff", nil, &out)
}

// Nodes is the last poll of every host.
func (c *Client) Nodes(ctx context.Context, fresh bool) ([]status.Node, error) {
	var out []status.Node
	p := "/nodes"
	if fresh {
		p += "?fresh=1"
	}
	return out, c.do(ctx, "GET", p, nil, &out)
}

// Events lists recorded actions, newest first.
func (c *Client) Events(ctx context.Context, target string, limit int) ([]store.Event, error) {
	var out []store.Event
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	return out, c.do(ctx, "GET", "/events?"+q.Encode(), nil, &out)
}

// Logs streams a container's log to w.
func (c *Client) Logs(ctx context.Context, container string, tail string, follow bool, w io.Writer) error {
	q := url.Values{}
	if tail != "" {
		q.Set("tail", tail)
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.send(ctx, "GET", "/containers/"+url.PathEscape(container)+"/logs?"+q.Encode(), nil, "text/plain")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Action runs an action on a job, calling on for every streamed line, and
// returns its result.
func (c *Client) Action(ctx context.Context, job, action string, r ActionRequest, on func(StreamLine)) (*ActionResult, error) {
	return c.stream(ctx, "/jobs/"+url.PathEscape(job)+"/"+action, job, action, r, on)
}

// UpAll brings every job of the pushed version up at once, along
// depends_on.
func (c *Client) UpAll(ctx context.Context, on func(StreamLine)) (*ActionResult, error) {
	return c.stream(ctx, "/up", "--all", "up", ActionRequest{}, on)
}

// Deploy pushes version n's file again as the newest version and brings
// every job up on it.
func (c *Client) Deploy(ctx context.Context, n int64, on func(StreamLine)) (*ActionResult, error) {
	return c.stream(ctx, fmt.Sprintf("/versions/%d/deploy", n), fmt.Sprintf("version %d", n), "deploy", ActionRequest{}, on)
}

func (c *Client) stream(ctx context.Context, path, job, action string, r ActionRequest, on func(StreamLine)) (*ActionResult, error) {
	start := time.Now()
	resp, err := c.send(ctx, "POST", path, r, "application/x-ndjson")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var l StreamLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s %s: bad line from the server: %w", action, job, err)
		}
		if l.Result != nil {
			return l.Result, nil
		}
		if on != nil {
			on(l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: the server's stream broke after %s: %w; the action may still be running there: check `cjob status %s` and `cjob events`", action, job, time.Since(start).Round(time.Second), err, job)
	}
	return nil, fmt.Errorf("%s %s: the server closed the stream without a result; check `cjob status %s` and `cjob events`", action, job, job)
}
