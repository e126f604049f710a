package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// challenge is an authentication challenge of a WWW-Authenticate header:
// `Basic realm="x"` or
// `Bearer realm="https://auth/token",service="registry",scope="repository:a/b:pull"`.
type challenge struct {
	scheme string            // lower case: "basic", "bearer"
	params map[string]string // keys in lower case
}

// sameAs reports whether ch and o are the same challenge.
func (ch *challenge) sameAs(o *challenge) bool {
	if o == nil || ch.scheme != o.scheme || len(ch.params) != len(o.params) {
		return false
	}
	for k, v := range ch.params {
		if o.params[k] != v {
			return false
		}
	}
	return true
}

// pickChallenge returns the challenge to answer among WWW-Authenticate
// header values: Bearer if offered, else Basic, else nil.
func pickChallenge(values []string) *challenge {
	var basic *challenge
	for _, v := range values {
		for _, ch := range parseChallenges(v) {
			switch ch.scheme {
			case "bearer":
				return ch
			case "basic":
				if basic == nil {
					basic = ch
				}
			}
		}
	}
	return basic
}

// parseChallenges parses a WWW-Authenticate header value, which may hold
// several challenges: `scheme k=v, k="quoted \"v\"", scheme2 ...`.
func parseChallenges(s string) []*challenge {
	var out []*challenge
	var cur *challenge
	i := 0
	token := func() string {
		start := i
		for i < len(s) && !strings.ContainsRune(" \t,=\"", rune(s[i])) {
			i++
		}
		return s[start:i]
	}
	skip := func(chars string) {
		for i < len(s) && strings.IndexByte(chars, s[i]) >= 0 {
			i++
		}
	}
	for i < len(s) {
		skip(" \t,")
		name := token()
		if name == "" {
			if i < len(s) {
				i++ // a stray '=' or '"'
			}
			continue
		}
		skip(" \t")
		if i >= len(s) || s[i] != '=' {
			cur = &challenge{scheme: strings.ToLower(name), params: map[string]string{}}
			out = append(out, cur)
			continue
		}
		i++ // '='
		skip(" \t")
		var val strings.Builder
		if i < len(s) && s[i] == '"' {
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			i++ // closing '"'
		} else {
			val.WriteString(token())
		}
		if cur != nil {
			cur.params[strings.ToLower(name)] = val.String()
		}
	}
	return out
}

// usedAuth is what authorize put in a request.
type usedAuth struct {
	creds    bool   // credentials went with it (basic, or to get the token)
	user     string // their user
	token    string // the bearer token, if any
	tokenKey string // its key in the token cache
	cached   bool   // the token came from the cache
}

// authorize adds to req the authentication h demands of requests about
// repo: basic credentials, or a bearer token for scope (default
// "repository:REPO:pull").
func (c *Client) authorize(ctx context.Context, h *host, repo, scope string, req *http.Request) (usedAuth, error) {
	h.mu.Lock()
	ch := h.challenge
	h.mu.Unlock()
	if ch == nil {
		return usedAuth{}, nil
	}
	cr := c.credentials(h)
	switch ch.scheme {
	case "basic":
		if !cr.ok() {
			return usedAuth{}, nil
		}
		req.SetBasicAuth(cr.user, cr.password)
		return usedAuth{creds: true, user: cr.user}, nil
	case "bearer":
		if scope == "" {
			scope = "repository:" + repo + ":pull"
		}
		tok, key, cached, err := c.token(ctx, h, repo, ch, scope, cr)
		if err != nil {
			return usedAuth{}, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return usedAuth{creds: cr.ok(), user: cr.user, token: tok, tokenKey: key, cached: cached}, nil
	}
	return usedAuth{}, nil
}

// tokenEntry is a bearer token in the cache, or being fetched.
type tokenEntry struct {
	done    chan struct{} // closed when the fields below are set
	token   string
	expires time.Time
	err     error
}

// token returns a bearer token for scope from the token server of ch,
// from the cache while it is valid. Concurrent requests for the same token
// wait for one fetch.
func (c *Client) token(ctx context.Context, h *host, repo string, ch *challenge, scope string, cr creds) (tok, key string, cached bool, err error) {
	key = strings.Join([]string{h.addr, ch.params["realm"], ch.params["service"], scope}, "\x00")
	for {
		c.mu.Lock()
		e := c.tokens[key]
		if e != nil {
			select {
			case <-e.done:
				if e.err == nil && c.now().Before(e.expires) {
					c.mu.Unlock()
					return e.token, key, true, nil
				}
				e = nil // failed or expired: fetch anew
			default:
			}
		}
		if e == nil {
			e = &tokenEntry{done: make(chan struct{})}
			c.tokens[key] = e
			c.mu.Unlock()
			e.token, e.expires, e.err = c.fetchToken(ctx, h, repo, ch, scope, cr)
			close(e.done)
			return e.token, key, false, e.err
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return "", key, false, c.contextError(ctx, h)
		}
		if e.err == nil {
			return e.token, key, false, nil
		}
		if ctx.Err() == nil && (errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded)) {
			continue // the request that fetched it gave up; this one has not
		}
		return "", key, false, e.err
	}
}

// dropToken removes tok, refused by the registry, from the cache.
func (c *Client) dropToken(key, tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.tokens[key]; e != nil {
		select {
		case <-e.done:
			if e.token == tok {
				delete(c.tokens, key)
			}
		default:
		}
	}
}

// defaultTokenLifetime is the life of tokens whose server does not say
// (the token specification's default).
const defaultTokenLifetime = 60 * time.Second

// fetchToken gets a token for scope from the token server of ch, with
// basic authentication if there are credentials.
func (c *Client) fetchToken(ctx context.Context, h *host, repo string, ch *challenge, scope string, cr creds) (string, time.Time, error) {
	realm := ch.params["realm"]
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", time.Time{}, &Error{Registry: h.name, Repository: repo,
			msg: fmt.Sprintf("registry %s: bad token realm %q in its Bearer challenge", h.name, realm)}
	}
	q := u.Query()
	if svc := ch.params["service"]; svc != "" {
		q.Set("service", svc)
	}
	for s := range strings.FieldsSeq(scope) {
		q.Add("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("User-Agent", userAgent)
	if cr.ok() {
		req.SetBasicAuth(cr.user, cr.password)
	}
	issued := c.now()
	resp, err := c.httpClient(u.Host).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", time.Time{}, c.contextError(ctx, h)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", time.Time{}, &Error{Registry: h.name, Repository: repo, kind: ErrUnreachable, err: err,
			msg: fmt.Sprintf("registry %s: token server %s unreachable: %v", h.name, u.Host, err)}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "", time.Time{}, c.unauthorizedError(h, repo, statusError(h, repo, resp), usedAuth{creds: cr.ok(), user: cr.user})
	case resp.StatusCode == http.StatusForbidden:
		return "", time.Time{}, c.deniedError(h, repo, statusError(h, repo, resp), usedAuth{creds: cr.ok(), user: cr.user})
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		e := statusError(h, repo, resp)
		e.msg = fmt.Sprintf("registry %s: token server %s: %s", h.name, u.Host, strings.TrimPrefix(e.msg, "registry "+h.name+": "))
		return "", time.Time{}, e
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	body, err := readBody(resp, 1<<20)
	if err == nil {
		err = json.Unmarshal(body, &tr)
	}
	if err != nil {
		return "", time.Time{}, c.bodyError(ctx, h, repo, "the answer of token server "+u.Host, err)
	}
	tok := tr.Token
	if tok == "" {
		tok = tr.AccessToken
	}
	if tok == "" {
		return "", time.Time{}, &Error{Registry: h.name, Repository: repo,
			msg: fmt.Sprintf("registry %s: token server %s answered no token", h.name, u.Host)}
	}
	life := defaultTokenLifetime
	if tr.ExpiresIn > 0 {
		life = time.Duration(tr.ExpiresIn) * time.Second
	}
	// Renew a little early, so that a token does not expire in flight.
	return tok, issued.Add(life - life/10), nil
}

// loginCommand is the command that stores credentials for h.
func loginCommand(h *host) string {
	if h.name == dockerHubDomain {
		return "docker login"
	}
	return "docker login " + h.name
}

// unauthorizedError turns e, a 401 answer for repo, into the error to
// report: authentication required, or the credentials refused.
func (c *Client) unauthorizedError(h *host, repo string, e *Error, used usedAuth) *Error {
	e.kind = ErrUnauthorized
	if used.creds {
		e.msg = fmt.Sprintf("registry %s: credentials for %s were refused (user %q, repository %s): run `%s`",
			h.name, h.name, used.user, repo, loginCommand(h))
	} else {
		e.msg = fmt.Sprintf("registry %s: authentication required for %s: run `%s`", h.name, repo, loginCommand(h))
	}
	return e
}

// deniedError turns e, a 403 answer for repo, into the error to report.
func (c *Client) deniedError(h *host, repo string, e *Error, used usedAuth) *Error {
	e.kind = ErrUnauthorized
	if used.creds {
		e.msg = fmt.Sprintf("registry %s: user %q may not pull %s", h.name, used.user, repo)
	} else {
		e.msg = fmt.Sprintf("registry %s: access to %s is denied", h.name, repo)
	}
	if codes := e.codes(); codes != "" {
		e.msg += " (" + codes + ")"
	}
	return e
}
