// Package registry is a client of the Docker Registry HTTP API v2, enough
// for cjob to list the tags of a job's image with their image IDs and
// creation times, the way `cjob update <job>` shows them:
//
//	The tags in the registry
//	  Version: 2b19fca   IMAGE ID: 768454c91351...   CREATED: Sep 11, 2015 at 2:26:02pm
//
// It speaks to private registries (distribution, Harbor, ...) and to Docker
// Hub: HTTPS first, plain HTTP for registries that answer a TLS hello in
// plain HTTP and for loopback ones (as Docker does for insecure
// registries); basic and bearer-token authentication with the credentials
// of `docker login`; Docker schema2 and OCI manifests, manifest lists and
// OCI indexes.
package registry

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
)

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// HTTPClient sends every request. When nil, the Client makes one per
	// registry host, with a 10 s limit per request, that trusts the
	// system's CAs, RootCAs and the CAs of /etc/docker/certs.d/<host>/
	// (*.crt), and presents the client certificates found there (*.cert
	// with its *.key), as Docker does. A non-nil HTTPClient is
	// used as is: RootCAs and certs.d are then its business.
	HTTPClient *http.Client
	// Auth returns the credentials for a registry host, named as in image
	// references ("10.0.0.5:5000", "docker.io"). Nil means
	// DockerConfigAuth(), the credentials of `docker login`.
	Auth func(host string) (user, password string, ok bool)
	// RootCAs are CAs trusted in addition to the system's and certs.d's.
	RootCAs *x509.CertPool
	// Concurrency is how many tags Tags fetches at once; default 8.
	Concurrency int
}

// Client talks to Docker registries. It remembers per registry host the
// scheme that works and the authentication the registry demands, and
// caches bearer tokens until they expire. It is safe for concurrent use.
type Client struct {
	opts        Options
	auth        func(host string) (string, string, bool)
	concurrency int

	// Knobs for tests.
	pageSize   int                    // n= of tag list requests; 0 sends none
	certsDir   string                 // Docker's /etc/docker/certs.d
	now        func() time.Time       // token expiry clock
	isLoopback func(host string) bool // hosts allowed to fall back to http://

	mu      sync.Mutex
	hosts   map[string]*host        // by API address
	clients map[string]*http.Client // by address, when opts.HTTPClient is nil
	tokens  map[string]*tokenEntry  // by address, realm, service and scope
}

// New returns a Client.
func New(o Options) *Client {
	c := &Client{
		opts:        o,
		auth:        o.Auth,
		concurrency: o.Concurrency,
		certsDir:    "/etc/docker/certs.d",
		now:         time.Now,
		isLoopback:  isLoopback,
		hosts:       map[string]*host{},
		clients:     map[string]*http.Client{},
		tokens:      map[string]*tokenEntry{},
	}
	if c.auth == nil {
		c.auth = DockerConfigAuth()
	}
	if c.concurrency <= 0 {
		c.concurrency = 8
	}
	return c
}

// Tag is a tag of a repository and the image it names.
type Tag struct {
	Name string `json:"name"`
	// Digest is the digest of the tag's manifest (its
	// Docker-Content-Digest); for a manifest list or OCI index, the
	// digest of the list, which is what `docker pull` resolves the tag to.
	Digest string `json:"digest"`
	// ImageID is the digest of the image's config blob, which is what
	// `docker images` shows as IMAGE ID. For a manifest list it is the
	// linux/amd64 image's (or the first image's, without one).
	ImageID string `json:"image_id"`
	// Created is the "created" time of the image's config.
	Created time.Time `json:"created"`
	// Size is the sum of the sizes of the image's (compressed) layers.
	Size int64 `json:"size"`
	// Err says why the data of this tag could not be read, in the results
	// of Tags, which lists the other tags regardless. The fields above
	// then hold what was read before the error.
	Err string `json:"error,omitempty"`
}

// Tags lists every tag of the repository named by image (e.g.
// "10.0.0.5:5000/coding/api:1.0.0"; a tag or digest in it is ignored),
// following the pagination of the tag list, and fetches each tag's
// manifest and config concurrently. The result is sorted newest Created
// first, ties by name.
//
// A tag whose data cannot be read (a schema1 manifest, a missing blob)
// does not fail the listing: its Err says what is wrong and its Created is
// zero, which sorts it last.
func (c *Client) Tags(ctx context.Context, image string) ([]Tag, error) {
	h, repo, err := c.parse(image)
	if err != nil {
		return nil, err
	}
	names, err := c.listTags(ctx, h, repo)
	if err != nil {
		return nil, err
	}
	tags := make([]Tag, len(names))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(c.concurrency, len(names)) {
		wg.Go(func() {
			for i := range jobs {
				t, err := c.tag(ctx, h, repo, names[i])
				if err != nil {
					t.Err = err.Error()
				}
				tags[i] = t
			}
		})
	}
feed:
	for i := range names {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, c.contextError(ctx, h)
	}
	sortTags(tags)
	return tags, nil
}

// Tag returns the data of repo:tag, where image names the repository as
// for Tags. A missing tag is an error wrapping ErrTagNotFound; a missing
// repository, ErrRepoNotFound.
func (c *Client) Tag(ctx context.Context, image, tag string) (Tag, error) {
	h, repo, err := c.parse(image)
	if err != nil {
		return Tag{}, err
	}
	if !tagPattern.MatchString(tag) {
		return Tag{}, fmt.Errorf("registry: invalid tag %q", tag)
	}
	t, err := c.tag(ctx, h, repo, tag)
	if errors.Is(err, ErrTagNotFound) {
		// Registries answer MANIFEST_UNKNOWN for the tags of a repository
		// they do not have: tell the two apart.
		if _, lerr := c.listTags(ctx, h, repo); errors.Is(lerr, ErrRepoNotFound) {
			err = lerr
		}
	}
	return t, err
}

// sortTags sorts tags newest Created first, ties by name.
func sortTags(tags []Tag) {
	slices.SortFunc(tags, func(a, b Tag) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

// parse returns the registry host and the repository path of image.
func (c *Client) parse(image string) (*host, string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, "", fmt.Errorf("registry: invalid image reference %q: %w", image, err)
	}
	domain := reference.Domain(named)
	addr := domain
	if domain == dockerHubDomain {
		addr = dockerHubAPI
	}
	return c.host(domain, addr), reference.Path(named), nil
}

const (
	dockerHubDomain = "docker.io"            // Docker Hub in image references
	dockerHubAPI    = "registry-1.docker.io" // and its API endpoint
)

// listTags returns the tags of repo, following the Link headers of
// paginated answers.
func (c *Client) listTags(ctx context.Context, h *host, repo string) ([]string, error) {
	target := "/v2/" + repo + "/tags/list"
	if c.pageSize > 0 {
		target += fmt.Sprintf("?n=%d", c.pageSize)
	}
	var tags []string
	seen := map[string]bool{}
	visited := map[string]bool{}
	for target != "" {
		if visited[target] || len(visited) >= maxPages {
			return nil, &Error{Registry: h.name, Repository: repo,
				msg: fmt.Sprintf("registry %s: the tag list of %s does not end (page %d: %s)", h.name, repo, len(visited)+1, target)}
		}
		visited[target] = true
		resp, err := c.get(ctx, h, repo, target, "application/json")
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.StatusCode == http.StatusNotFound && e.kind == nil && strings.HasSuffix(e.path, "/tags/list") {
				e.kind, e.msg = ErrRepoNotFound, fmt.Sprintf("registry %s has no repository %s", h.name, repo)
			}
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		body, err := readBody(resp, maxListBytes)
		if err == nil {
			err = json.Unmarshal(body, &page)
		}
		if err != nil {
			return nil, c.bodyError(ctx, h, repo, "the tag list of "+repo, err)
		}
		for _, t := range page.Tags {
			if !seen[t] {
				seen[t] = true
				tags = append(tags, t)
			}
		}
		target = ""
		if next := nextLink(resp.Header.Values("Link")); next != "" {
			u, err := resp.Request.URL.Parse(next)
			if err != nil {
				return nil, &Error{Registry: h.name, Repository: repo,
					msg: fmt.Sprintf("registry %s: bad Link header %q in the tag list of %s", h.name, next, repo)}
			}
			target = u.String()
		}
	}
	return tags, nil
}

const (
	maxPages     = 10000   // of a tag list
	maxListBytes = 8 << 20 // of a page of a tag list
)

// nextLink returns the target of the rel="next" link among Link header
// values (`</v2/x/tags/list?last=b&n=2>; rel="next"`), or "".
func nextLink(values []string) string {
	for _, v := range values {
		for link := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") && strings.Trim(strings.TrimSpace(val), `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}
