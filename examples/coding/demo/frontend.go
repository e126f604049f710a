package main

// The user-facing roles: gateway, web, api and git, plus the generic role of
// the legacy example.

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// buildGateway: the edge. GET / checks web and api; /api/* is proxied to
// API_URL and everything else to WEB_URL.
func buildGateway(c *config) (*service, error) {
	web, err := c.baseURL("WEB_URL")
	if err != nil {
		return nil, err
	}
	api, err := c.baseURL("API_URL")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", c.proxy("api", api))
	mux.Handle("/", c.proxy("web", web))
	return &service{
		mux: mux,
		upstreams: []upstream{
			{"web", web + "/healthz"},
			{"api", api + "/healthz"},
		},
	}, nil
}

// proxy is a reverse proxy to base; failures answer 502 with a JSON error.
func (c *config) proxy(name, base string) http.Handler {
	target, _ := url.Parse(base) // validated by baseURL
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Gateway", c.hostname)
		},
		Transport: c.client.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			c.logf("%s: proxy to %s (%s): %v", c.role, name, base, err)
			writeJSON(w, http.StatusBadGateway, map[string]any{
				"error": fmt.Sprintf("%s unreachable: %v", name, err), "upstream": name, "url": base,
			})
		},
	}
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>CODING demo</title></head>
<body>
<h1>CODING demo</h1>
<p>Served by <b>web</b> on <code>{{.Hostname}}</code> at {{.Time}}; the API is <code>{{.API}}</code>.</p>
<ul>
<li><a href="/api/repos">/api/repos</a> (api &rarr; git)</li>
<li><a href="/api/schema">/api/schema</a> (api &rarr; cache)</li>
</ul>
<form method="post" action="/api/notify">
<input name="message" value="hello from the web page">
<button>Notify</button> (api &rarr; queue &rarr; worker &rarr; mail, sms)
</form>
</body></html>
`))

// buildWeb: the front-end. GET / checks API_URL (http://localhost:8000 in
// production: web and api share a host); /index.html is the page.
func buildWeb(c *config) (*service, error) {
	api, err := c.baseURL("API_URL")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /index.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		indexPage.Execute(w, map[string]string{
			"Hostname": c.hostname, "API": api, "Time": time.Now().Format(time.RFC3339),
		})
	})
	return &service{mux: mux, upstreams: []upstream{{"api", api + "/healthz"}}}, nil
}

// apiGreeting is what GET /api/hello answers.
const apiGreeting = "hello from api"

// buildAPI: the application server. GET / reads the schema version from the
// cache (so it fails until migrate ran), checks the queue and lists git's
// repositories.
//
//	POST /api/notify  enqueue the body (a message for mail and sms)
//	GET  /api/repos   git's repositories
//	GET  /api/schema  the schema version in the cache
//	GET  /api/hello   a greeting: the line to edit when trying `cjob dev swap`
func buildAPI(c *config) (*service, error) {
	cache, err := c.baseURL("CACHE_URL")
	if err != nil {
		return nil, err
	}
	queue, err := c.baseURL("QUEUE_URL")
	if err != nil {
		return nil, err
	}
	git, err := c.baseURL("GIT_URL")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/notify", func(w http.ResponseWriter, r *http.Request) {
		msg, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		if len(strings.TrimSpace(string(msg))) == 0 {
			msg = fmt.Appendf(nil, "notification from api on %s at %s", c.hostname, time.Now().Format(time.RFC3339))
		}
		_, body, err := c.send(r.Context(), http.MethodPost, queue+"/enqueue", "text/plain", msg)
		if err != nil {
			c.logf("api: notify: %v", err)
			writeJSON(w, http.StatusBadGateway, map[string]any{"queued": false, "error": err.Error()})
			return
		}
		c.debugf("notify: queued %q", msg)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write(body)
	})
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"message": apiGreeting, "host": c.hostname})
	})
	mux.HandleFunc("GET /api/repos", func(w http.ResponseWriter, r *http.Request) {
		c.relay(r.Context(), w, git+"/repos")
	})
	mux.HandleFunc("GET /api/schema", func(w http.ResponseWriter, r *http.Request) {
		code, body, err := c.send(r.Context(), http.MethodGet, cache+"/kv/schema_version", "", nil)
		switch {
		case code == http.StatusNotFound:
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "not migrated yet"})
		case err != nil:
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"schema_version": strings.TrimSpace(string(body))})
		}
	})
	return &service{
		mux: mux,
		upstreams: []upstream{
			{"cache", cache + "/kv/schema_version"},
			{"queue", queue + "/healthz"},
			{"git", git + "/repos"},
		},
	}, nil
}

// relay GETs url and copies a JSON answer to w, or answers 502.
func (c *config) relay(ctx context.Context, w http.ResponseWriter, url string) {
	code, body, err := c.send(ctx, http.MethodGet, url, "", nil)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "status": code})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// repos is what the fake git service hosts.
var repos = []map[string]any{
	{"name": "coding/platform", "default_branch": "main", "head": "59559fd"},
	{"name": "coding/blog", "default_branch": "main", "head": "a5af2f2"},
	{"name": "coding/cjob", "default_branch": "main", "head": "e1f0c3b"},
}

// buildGit: a fake git HTTP service: GET /repos lists repositories.
func buildGit(c *config) (*service, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, repos)
	})
	return &service{
		mux:  mux,
		info: func() map[string]any { return map[string]any{"repos": len(repos)} },
	}, nil
}

// buildGeneric: the default role, for images that know nothing of ROLE (the
// legacy example). It only answers /healthz and GET /; listenPorts decides
// where it listens.
func buildGeneric(c *config) (*service, error) {
	name := c.getenv("NAME")
	if name == "" {
		name = c.hostname
	}
	return &service{info: func() map[string]any {
		info := map[string]any{"name": name}
		if v := c.getenv("http_port"); v != "" {
			info["http_port"] = v
		}
		return info
	}}, nil
}
