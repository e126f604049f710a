package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// host is the state of one registry host.
type host struct {
	name string // as in image references: "10.0.0.5:5000", "docker.io"
	addr string // the API's host[:port]: "10.0.0.5:5000", "registry-1.docker.io"

	mu        sync.Mutex // guards the fields below; held while pinging
	scheme    string     // "https" or "http" once known
	challenge *challenge // the authentication the registry demands; nil: none seen
	creds     *creds     // the credentials, once looked up
}

// creds are credentials for a host; the zero value means none.
type creds struct{ user, password string }

func (c *creds) ok() bool { return c.user != "" || c.password != "" }

// host returns the state of the registry at addr, named name.
func (c *Client) host(name, addr string) *host {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hosts[addr]
	if h == nil {
		h = &host{name: name, addr: addr}
		c.hosts[addr] = h
	}
	return h
}

// credentials returns the credentials for h, looked up once.
func (c *Client) credentials(h *host) creds {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.creds == nil {
		var cr creds
		if u, p, ok := c.auth(h.name); ok {
			cr = creds{u, p}
		}
		h.creds = &cr
	}
	return *h.creds
}

// Limits of the Client's own HTTP clients.
const (
	requestTimeout = 10 * time.Second
	dialTimeout    = 5 * time.Second
)

// httpClient returns the HTTP client for requests to addr (host[:port]).
func (c *Client) httpClient(addr string) *http.Client {
	if c.opts.HTTPClient != nil {
		return c.opts.HTTPClient
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc := c.clients[addr]; hc != nil {
		return hc
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       c.tlsConfig(addr),
		TLSHandshakeTimeout:   dialTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   c.concurrency,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	hc := &http.Client{Transport: t, Timeout: requestTimeout}
	c.clients[addr] = hc
	return hc
}

// tlsConfig returns the TLS configuration for addr: it trusts the system's
// CAs, the *.crt files of certsDir/addr/ and Options.RootCAs, and presents
// the client certificates (*.cert with their *.key) found there, as Docker
// does.
func (c *Client) tlsConfig(addr string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	dir := filepath.Join(c.certsDir, addr)
	entries, _ := os.ReadDir(dir) // no directory: nothing to add
	var pool *x509.CertPool       // nil: the system's
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".crt"):
			pem, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			if pool == nil {
				if pool, err = x509.SystemCertPool(); err != nil || pool == nil {
					pool = x509.NewCertPool()
				}
			}
			pool.AppendCertsFromPEM(pem)
		case strings.HasSuffix(name, ".cert"):
			key := filepath.Join(dir, strings.TrimSuffix(name, ".cert")+".key")
			if cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name), key); err == nil {
				cfg.Certificates = append(cfg.Certificates, cert)
			}
		}
	}
	if c.opts.RootCAs == nil {
		cfg.RootCAs = pool
		return cfg
	}
	// A certificate is good if it chains to either pool: the standard
	// verification, with both in turn.
	hostname := addr
	if hn, _, err := net.SplitHostPort(addr); err == nil {
		hostname = hn
	}
	extra := c.opts.RootCAs
	cfg.InsecureSkipVerify = true // verified by VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		var first error
		for _, roots := range []*x509.CertPool{pool, extra} {
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: hostname, Roots: roots, Intermediates: inter})
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: first}
	}
	return cfg
}

// isLoopback reports whether addr (host[:port]) is a loopback address or
// localhost.
func isLoopback(addr string) bool {
	hostname := addr
	if hn, _, err := net.SplitHostPort(addr); err == nil {
		hostname = hn
	}
	hostname = strings.Trim(hostname, "[]")
	if strings.EqualFold(hostname, "localhost") || strings.HasSuffix(strings.ToLower(hostname), ".localhost") {
		return true
	}
	ip := net.ParseIP(hostname)
	return ip != nil && ip.IsLoopback()
}

// ping finds out, once, the scheme that h answers and the authentication
// it demands, with GET /v2/: HTTPS first; plain HTTP if the registry
// answers a TLS hello in plain HTTP, or if it is on a loopback address and
// HTTPS fails for any reason but a refused connection.
func (c *Client) ping(ctx context.Context, h *host) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.scheme != "" {
		return nil
	}
	scheme := "https"
	resp, err := c.pingScheme(ctx, h, scheme)
	if err != nil && ctx.Err() == nil && (isHTTPResponseToHTTPS(err) || c.isLoopback(h.addr) && !isDialError(err)) {
		r, herr := c.pingScheme(ctx, h, "http")
		switch {
		case herr == nil && (isHTTPResponseToHTTPS(err) || looksLikeRegistry(r)):
			scheme, resp, err = "http", r, nil
		case herr == nil:
			// An HTTPS server answering HTTP requests with an error
			// ("Client sent an HTTP request to an HTTPS server"): its
			// TLS error tells what is wrong.
			r.Body.Close()
		case isHTTPResponseToHTTPS(err):
			err = herr // a plain HTTP server: its error tells more
		}
		// Otherwise HTTPS's error (say, an unknown CA) tells more.
	}
	if err != nil {
		return c.transportError(ctx, h, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		h.challenge = pickChallenge(resp.Header.Values("WWW-Authenticate"))
	case resp.StatusCode == http.StatusNotFound:
		return &Error{Registry: h.name, StatusCode: resp.StatusCode,
			msg: fmt.Sprintf("registry %s does not serve the registry API v2 (GET %s://%s/v2/: %s)", h.name, scheme, h.addr, resp.Status)}
	case resp.StatusCode >= 500:
		return statusError(h, "", resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	h.scheme = scheme
	return nil
}

// looksLikeRegistry reports whether resp, the answer to GET /v2/, comes
// from a registry.
func looksLikeRegistry(resp *http.Response) bool {
	return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized ||
		resp.Header.Get("Docker-Distribution-Api-Version") != ""
}

// pingScheme sends GET scheme://h/v2/.
func (c *Client) pingScheme(ctx context.Context, h *host, scheme string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+h.addr+"/v2/", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	return c.httpClient(h.addr).Do(req)
}

const userAgent = "cjob (registry client)"

// get sends GET target (a path on h, or an absolute URL) for repo,
// authenticating as h demands, and returns the answer if it is a success.
// The caller closes its body.
func (c *Client) get(ctx context.Context, h *host, repo, target string, accept ...string) (*http.Response, error) {
	return c.send(ctx, h, repo, request{method: http.MethodGet, target: target, accept: accept})
}

// request is one registry API request: send makes it, authenticated.
type request struct {
	method, target string
	accept         []string
	body           []byte // sent again on a retry
	contentType    string
	push           bool // needs push access (bearer scope pull,push)
	ok             func(code int) bool
}

// send makes r against h, authenticating as the registry's challenge asks
// (and once more with a new token or challenge after a 401); a status that
// r.ok does not accept (2xx by default) is an error.
func (c *Client) send(ctx context.Context, h *host, repo string, r request) (*http.Response, error) {
	if err := c.ping(ctx, h); err != nil {
		return nil, err
	}
	target, accept := r.target, r.accept
	if r.ok == nil {
		r.ok = func(code int) bool { return code >= 200 && code < 300 }
	}
	h.mu.Lock()
	base := &url.URL{Scheme: h.scheme, Host: h.addr, Path: "/"}
	h.mu.Unlock()
	u, err := base.Parse(target)
	if err != nil {
		return nil, err
	}
	var scope string // from a 401's challenge, for the retry
	if r.push {
		scope = "repository:" + repo + ":pull,push"
	}
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", userAgent)
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		for _, a := range accept {
			req.Header.Add("Accept", a)
		}
		used, err := c.authorize(ctx, h, repo, scope, req)
		if err != nil {
			return nil, err
		}
		resp, err := c.httpClient(u.Host).Do(req)
		if err != nil {
			return nil, c.transportError(ctx, h, err)
		}
		switch {
		case r.ok(resp.StatusCode):
			return resp, nil
		case resp.StatusCode != http.StatusUnauthorized:
			e := statusError(h, repo, resp)
			if e.kind == ErrUnauthorized {
				return nil, c.deniedError(h, repo, e, used)
			}
			return nil, e
		}
		ch := pickChallenge(resp.Header.Values("WWW-Authenticate"))
		e := statusError(h, repo, resp)
		// Retry once if there is something new to try: a challenge not
		// seen before, or a fresh token instead of a cached one.
		h.mu.Lock()
		changed := ch != nil && !ch.sameAs(h.challenge)
		if ch != nil {
			h.challenge = ch
		}
		h.mu.Unlock()
		if used.token != "" {
			c.dropToken(used.tokenKey, used.token)
		}
		if attempt == 0 && (changed || used.cached) {
			if ch != nil && ch.params["scope"] != "" {
				scope = ch.params["scope"]
			}
			continue
		}
		return nil, c.unauthorizedError(h, repo, e, used)
	}
}

// readBody reads and closes the body of resp, at most limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	return b, err
}
