package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/stack"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Options tune the UI.
type Options struct {
	Title   string        // e.g. "cjob · coding · production"; default from Env
	Refresh time.Duration // auto refresh interval; default 10s
	Now     func() time.Time
}

// UI serves the web UI of one Source.
type UI struct {
	src    Source
	o      Options
	pages  map[string]*template.Template
	assets map[string]asset
	urls   map[string]string // asset name -> versioned URL
	mux    *http.ServeMux

	histMu      sync.Mutex
	histKnown   bool      // Versions returned non-nil once: the environment keeps versions
	histChecked time.Time // last check that returned nil
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// cookieName holds the visitor's token.
const cookieName = "cjob_ui"

// actTimeout bounds an action started from the UI; it runs to the end even
// when the browser goes away.
const actTimeout = 30 * time.Minute

// pageNames are the templates in templates/, each parsed with base.html.
var pageNames = []string{"services", "jobs", "job", "containers", "container", "nodes", "history", "events", "topology", "login", "notfound", "error"}

// New returns the UI of src. Templates and assets are parsed once, here.
func New(src Source, o Options) *UI {
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u := &UI{src: src, o: o, pages: map[string]*template.Template{}, assets: map[string]asset{}, urls: map[string]string{}}
	u.loadAssets()
	base := template.Must(template.New("base.html").Funcs(u.funcs()).ParseFS(templateFS, "templates/base.html"))
	for _, name := range pageNames {
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
		u.pages[name] = t
	}
	u.routes()
	return u
}

// Handler serves every page of the UI; mount it at "/".
//
//	GET  /                      302 to /services
//	GET  /services              services (<details>) with their jobs, totals, filter
//	GET  /jobs, /jobs/{job}     every job; one job: tasks, swap, definitions, actions
//	GET  /containers, /containers/{name}   every container; inspect and live log
//	GET  /nodes, /history, /events, /topology
//	GET  /login, POST /login    token form (GET ?token= logs in too); cookie cjob_ui
//	POST /logout
//	POST /ui/act                an action: cookie + X-Cjob-UI: 1; NDJSON progress, then the result
//	GET  /ui/logs/{name}        a container's log as server-sent events
//	GET  /assets/{file}         the embedded CSS and JS
//
// Every page answers ?partial=1 with what goes inside <main>, and ?fresh=1
// asks the Source for a new look at the engines.
func (u *UI) Handler() http.Handler { return u.mux }

func (u *UI) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/services", http.StatusFound)
	})
	m.HandleFunc("GET /services", u.services)
	m.HandleFunc("GET /jobs", u.jobs)
	m.HandleFunc("GET /jobs/{job}", u.job)
	m.HandleFunc("GET /containers", u.containers)
	m.HandleFunc("GET /containers/{name...}", u.container)
	m.HandleFunc("GET /nodes", u.nodes)
	m.HandleFunc("GET /history", u.history)
	m.HandleFunc("GET /events", u.events)
	m.HandleFunc("GET /topology", u.topology)
	m.HandleFunc("GET /login", u.loginForm)
	m.HandleFunc("POST /login", u.loginPost)
	m.HandleFunc("POST /logout", u.logout)
	m.HandleFunc("POST /ui/act", u.act)
	m.HandleFunc("GET /ui/logs/{name...}", u.logs)
	m.HandleFunc("GET /assets/{file}", u.asset)
	m.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		u.notFound(w, r, "page", r.URL.Path, "/services", "the services")
	})
	u.mux = m
}

func (u *UI) loadAssets() {
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(assetFS, "assets/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		tag := hex.EncodeToString(sum[:6])
		ct := types[path.Ext(e.Name())]
		if ct == "" {
			ct = "application/octet-stream"
		}
		u.assets[e.Name()] = asset{body: b, ctype: ct, etag: `"` + tag + `"`}
		u.urls[e.Name()] = "/assets/" + e.Name() + "?v=" + tag
	}
}

// asset serves an embedded file; a request naming the current version is
// cached for a year, any other for five minutes.
func (u *UI) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := u.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if v := r.URL.Query().Get("v"); v != "" && `"`+v+`"` == a.etag {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}

// visitor is who sends a request: logged in (a valid cookie) or not.
type visitor struct {
	Who      string
	LoggedIn bool
}

// visitor checks the request's cookie against the Source, every time.
func (u *UI) visitor(r *http.Request) visitor {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return visitor{}
	}
	tok, err := url.PathUnescape(c.Value)
	if err != nil || tok == "" {
		return visitor{}
	}
	who, ok := u.src.Authorize(tok)
	if !ok {
		return visitor{}
	}
	if who == "" {
		who = "operator"
	}
	return visitor{Who: who, LoggedIn: true}
}

// view is what every page template gets: the header's data and the page's
// own under D.
type view struct {
	Title       string
	Env         Env
	EnvClass    string
	Nav         string
	Who         string
	LoggedIn    bool
	ShowHistory bool
	Refresh     int64 // ms
	Now         time.Time
	Next        string // the current page, for the login link
	CSS, JS     string
	Stale       string // "data from 15:04:05" when the data is old
	At          time.Time
	D           any
	actions     map[string]bool
}

// Can reports whether the visitor may run verb here: logged in and the
// verb is one of the environment's actions.
func (v *view) Can(verb string) bool { return v.LoggedIn && v.actions[verb] }

// CanAny reports whether any of the verbs can run.
func (v *view) CanAny(verbs ...string) bool {
	for _, vb := range verbs {
		if v.Can(vb) {
			return true
		}
	}
	return false
}

func (u *UI) newView(r *http.Request, nav string) *view {
	env := u.src.Env()
	vis := u.visitor(r)
	v := &view{
		Env:      env,
		EnvClass: envClass(env.Name),
		Nav:      nav,
		Who:      vis.Who,
		LoggedIn: vis.LoggedIn,
		Refresh:  u.o.Refresh.Milliseconds(),
		Now:      u.o.Now(),
		Next:     r.URL.Path,
		CSS:      u.urls["ui.css"],
		JS:       u.urls["ui.js"],
		actions:  map[string]bool{},
	}
	v.Title = u.o.Title
	if v.Title == "" {
		parts := []string{"cjob"}
		if env.Project != "" {
			parts = append(parts, env.Project)
		}
		if env.Name != stack.EnvUnknown {
			parts = append(parts, env.Name.String())
		}
		v.Title = strings.Join(parts, " · ")
	}
	for _, a := range env.Actions {
		v.actions[a] = true
	}
	v.ShowHistory = u.hasHistory(r.Context())
	return v
}

func envClass(e stack.Env) string {
	if e == stack.EnvUnknown {
		return "env-other"
	}
	return "env-" + e.String()
}

// hasHistory reports whether the environment keeps versions. It asks the
// Source at most once a minute while the answer is no, and never again
// once it is yes.
func (u *UI) hasHistory(ctx context.Context) bool {
	u.histMu.Lock()
	defer u.histMu.Unlock()
	if u.histKnown {
		return true
	}
	now := u.o.Now()
	if !u.histChecked.IsZero() && now.Sub(u.histChecked) < time.Minute {
		return false
	}
	vs, err := u.src.Versions(ctx, 1)
	if err != nil {
		return true // unknown: keep the link, the page says what failed
	}
	if vs != nil {
		u.histKnown = true
		return true
	}
	u.histChecked = now
	return false
}

// stale marks data older than three refresh intervals.
func (u *UI) stale(v *view, at time.Time) {
	v.At = at
	if !at.IsZero() && v.Now.Sub(at) > 3*u.o.Refresh {
		v.Stale = "data from " + at.Local().Format("15:04:05")
	}
}

// render writes page name with v, the whole page or, with ?partial=1, only
// what goes inside <main>.
func (u *UI) render(w http.ResponseWriter, r *http.Request, name string, status int, v *view) {
	t := u.pages[name]
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	tmpl := "page"
	if r.URL.Query().Get("partial") == "1" {
		tmpl = "main"
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.ExecuteTemplate(buf, tmpl, v); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type notFoundData struct {
	What, Name, List, ListName string
}

func (u *UI) notFound(w http.ResponseWriter, r *http.Request, what, name, list, listName string) {
	v := u.newView(r, "")
	v.D = notFoundData{What: what, Name: name, List: list, ListName: listName}
	u.render(w, r, "notfound", http.StatusNotFound, v)
}

type errorData struct {
	What, Err string
}

func (u *UI) failed(w http.ResponseWriter, r *http.Request, v *view, what string, err error) {
	v.D = errorData{What: what, Err: err.Error()}
	status := http.StatusServiceUnavailable
	if errors.Is(err, context.Canceled) {
		status = http.StatusRequestTimeout
	}
	u.render(w, r, "error", status, v)
}

// snapshot reads the environment; ?fresh=1 ("refresh now") asks for a new
// look at the engines.
func (u *UI) snapshot(r *http.Request) (*Snapshot, error) {
	s, err := u.src.Snapshot(r.Context(), r.URL.Query().Get("fresh") == "1")
	if err == nil && s == nil {
		s = &Snapshot{}
	}
	return s, err
}

// snapshotPage starts a page that shows the environment's snapshot: its
// view and the snapshot, or false once it has answered with the error page.
func (u *UI) snapshotPage(w http.ResponseWriter, r *http.Request, nav string) (*view, *Snapshot, bool) {
	v := u.newView(r, nav)
	s, err := u.snapshot(r)
	if err != nil {
		u.failed(w, r, v, "the environment", err)
		return nil, nil, false
	}
	return v, s, true
}

// safeNext returns next when it is a path on this site, else /services.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/services"
	}
	if strings.ContainsAny(next, "\\\r\n\t") || strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/services"
	}
	p, err := url.Parse(next)
	if err != nil || p.Scheme != "" || p.Host != "" || p.User != nil || !strings.HasPrefix(p.Path, "/") || strings.HasPrefix(p.Path, "//") {
		return "/services"
	}
	if strings.HasPrefix(p.Path, "/login") || strings.HasPrefix(p.Path, "/logout") || strings.HasPrefix(p.Path, "/ui/") {
		return "/services"
	}
	return next
}

type loginData struct {
	Next  string
	Wrong bool
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("token") {
		u.login(w, r, q.Get("token"), q.Get("next"))
		return
	}
	v := u.newView(r, "login")
	v.D = loginData{Next: safeNext(q.Get("next"))}
	u.render(w, r, "login", http.StatusOK, v)
}

func (u *UI) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	u.login(w, r, r.PostForm.Get("token"), r.Form.Get("next"))
}

func (u *UI) login(w http.ResponseWriter, r *http.Request, token, next string) {
	next = safeNext(next)
	who, ok := "", false
	if token != "" {
		who, ok = u.src.Authorize(token)
	}
	if !ok {
		v := u.newView(r, "login")
		v.D = loginData{Next: next, Wrong: true}
		u.render(w, r, "login", http.StatusUnauthorized, v)
		return
	}
	_ = who
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: url.PathEscape(token), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(r),
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	r.ParseForm()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(1, 0),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(r),
	})
	http.Redirect(w, r, safeNext(r.Form.Get("next")), http.StatusSeeOther)
}

func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// allowed reports whether verb is one of the environment's actions.
func allowed(env Env, verb string) bool { return verb != "" && slices.Contains(env.Actions, verb) }
