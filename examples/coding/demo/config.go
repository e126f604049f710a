package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// config is what every role is built from: its environment, its log and an
// HTTP client for calling other roles.
type config struct {
	role     string
	getenv   func(string) string
	hostname string
	debug    bool
	client   *http.Client

	logMu sync.Mutex
	out   io.Writer
}

func newConfig(role string, getenv func(string) string, out io.Writer) *config {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	timeout := 2 * time.Second
	if v := getenv("UPSTREAM_TIMEOUT"); v != "" {
		if d, err := parseDuration(v); err == nil && d > 0 {
			timeout = d
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	return &config{
		role:     role,
		getenv:   getenv,
		hostname: host,
		debug:    strings.EqualFold(getenv("LOG_LEVEL"), "debug"),
		client:   &http.Client{Timeout: timeout, Transport: tr},
		out:      out,
	}
}

// logf writes one line to stdout. Lines carry no timestamp: the engine's log
// driver adds one.
func (c *config) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintln(c.out, strings.TrimRight(line, "\n"))
}

// debugf logs only when LOG_LEVEL=debug.
func (c *config) debugf(format string, args ...any) {
	if c.debug {
		c.logf(c.role+": debug: "+format, args...)
	}
}

// baseURL reads a required upstream address such as http://core-app-1:8000
// from the environment variable key, without a trailing slash.
func (c *config) baseURL(key string) (string, error) {
	v := strings.TrimSpace(c.getenv(key))
	if v == "" {
		return "", fmt.Errorf("%s is not set (want a production address such as http://data-1:6379)", key)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s=%q is not an http:// URL", key, v)
	}
	return strings.TrimRight(v, "/"), nil
}

// duration reads an optional duration, e.g. PROBE_INTERVAL=2s.
func (c *config) duration(key string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(c.getenv(key))
	if v == "" {
		return def, nil
	}
	d, err := parseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration", key, v)
	}
	return d, nil
}

// parseDuration accepts Go durations ("500ms", "2s") and plain seconds ("2").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// portFrom reads a port from the environment variable key, or returns def.
func portFrom(getenv func(string) string, key string, def int) (int, error) {
	v := getenv(key)
	if strings.TrimSpace(v) == "" {
		return def, nil
	}
	p, err := parsePort(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", key, err)
	}
	return p, nil
}

// parsePort accepts 0 (any free port, for tests) to 65535.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port", strings.TrimSpace(s))
	}
	return p, nil
}

// upstream is one call a role makes to another when asked for its status.
type upstream struct {
	name string
	url  string // full URL, e.g. http://data-1:6379/kv/schema_version
}

// callResult is the outcome of calling an upstream, as shown by GET /.
type callResult struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	OK     bool   `json:"ok"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
	Millis int64  `json:"ms"`
}

// call GETs u.url; a 2xx answer is a success.
func (c *config) call(ctx context.Context, u upstream) callResult {
	res := callResult{Name: u.name, URL: u.url}
	start := time.Now()
	defer func() {
		res.Millis = time.Since(start).Milliseconds()
		c.debugf("call %s %s: ok=%v status=%d %s", u.name, u.url, res.OK, res.Status, res.Error)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	req.Header.Set("User-Agent", "coding-demo/"+c.role)
	resp, err := c.client.Do(req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	res.Status = resp.StatusCode
	res.OK = resp.StatusCode >= 200 && resp.StatusCode < 300
	if !res.OK {
		res.Error = resp.Status
	}
	return res
}

// callAll calls every upstream in parallel; results keep the given order.
func (c *config) callAll(ctx context.Context, ups []upstream) []callResult {
	out := make([]callResult, len(ups))
	var wg sync.WaitGroup
	for i, u := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.call(ctx, u)
		}()
	}
	wg.Wait()
	return out
}

// send makes a request with body to url and returns the answer's status and
// body; a non-2xx answer is an error.
func (c *config) send(ctx context.Context, method, url, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "coding-demo/"+c.role)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, b, fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return resp.StatusCode, b, nil
}
