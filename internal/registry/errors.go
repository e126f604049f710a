package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// Kinds of errors, for errors.Is. The errors of a Client are *Error values
// wrapping one of these (or a context's error) when it applies.
var (
	// ErrTagNotFound: the repository has no such tag (MANIFEST_UNKNOWN).
	ErrTagNotFound = errors.New("tag not found")
	// ErrRepoNotFound: the registry has no such repository (NAME_UNKNOWN).
	ErrRepoNotFound = errors.New("repository not found")
	// ErrUnauthorized: the registry wants credentials that were not given,
	// refused the ones given, or denies them the repository.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnreachable: no answer from the registry (refused connection,
	// unknown host, timeout).
	ErrUnreachable = errors.New("registry unreachable")
)

var tagPattern = regexp.MustCompile(`^` + reference.TagRegexp.String() + `$`)

// Error is an error of a Client: its message says which registry and
// repository it concerns and what went wrong, and it unwraps to one of the
// Err* kinds when one applies, and to its cause.
type Error struct {
	Registry   string     // the registry as named in image references, e.g. "10.0.0.5:5000"
	Repository string     // e.g. "coding/api"; "" when it concerns the whole registry
	StatusCode int        // the HTTP status of the registry's answer; 0 without one
	Errors     []APIError // the errors in the body of the answer, if any

	msg  string
	kind error  // an Err* kind, or nil
	err  error  // the cause, or nil
	path string // the URL path of the request answered, if any
}

// APIError is one entry of the error body of a registry answer,
// {"errors":[{"code":...,"message":...,"detail":...}]}.
type APIError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the kind of the error and its cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}

// hasCode reports whether the registry answered with the error code.
func (e *Error) hasCode(code string) bool {
	for _, a := range e.Errors {
		if a.Code == code {
			return true
		}
	}
	return false
}

// codes lists the registry's error codes and messages, "" without any.
func (e *Error) codes() string {
	var parts []string
	for _, a := range e.Errors {
		s := a.Code
		if a.Message != "" {
			s += ": " + a.Message
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// statusError describes a non-2xx answer to method target, whose body it
// reads and closes.
func statusError(h *host, repo string, resp *http.Response) *Error {
	e := &Error{Registry: h.name, Repository: repo, StatusCode: resp.StatusCode, path: resp.Request.URL.Path}
	body, _ := readBody(resp, 64<<10)
	var eb struct {
		Errors []APIError `json:"errors"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Errors = eb.Errors
	}
	what := resp.Request.Method + " " + resp.Request.URL.Path
	switch {
	case e.hasCode("NAME_UNKNOWN"):
		e.kind, e.msg = ErrRepoNotFound, fmt.Sprintf("registry %s has no repository %s", h.name, repo)
		return e
	case resp.StatusCode == http.StatusForbidden || e.hasCode("DENIED"):
		e.kind = ErrUnauthorized
	}
	e.msg = fmt.Sprintf("registry %s: %s: %s", h.name, what, resp.Status)
	if codes := e.codes(); codes != "" {
		e.msg += " (" + codes + ")"
	} else if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 && !strings.Contains(s, "<") {
		e.msg += ": " + s
	}
	return e
}

// transportError describes err, the failure of a request to h that got no
// answer.
func (c *Client) transportError(ctx context.Context, h *host, err error) error {
	if ctx.Err() != nil {
		return c.contextError(ctx, h)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if isCertError(err) {
		return &Error{Registry: h.name, err: err,
			msg: fmt.Sprintf("registry %s: TLS: %v (add the registry's CA to %s/%s/ca.crt, as for Docker)", h.name, err, c.certsDir, h.addr)}
	}
	return &Error{Registry: h.name, kind: ErrUnreachable, err: err,
		msg: fmt.Sprintf("registry %s unreachable: %v", h.name, err)}
}

// contextError says that ctx ended a request to h.
func (c *Client) contextError(ctx context.Context, h *host) error {
	return &Error{Registry: h.name, err: ctx.Err(), msg: fmt.Sprintf("registry %s: %v", h.name, context.Cause(ctx))}
}

// bodyError says that the body of an answer about what could not be read
// or decoded.
func (c *Client) bodyError(ctx context.Context, h *host, repo, what string, err error) error {
	if ctx.Err() != nil {
		return c.contextError(ctx, h)
	}
	return &Error{Registry: h.name, Repository: repo, err: err,
		msg: fmt.Sprintf("registry %s: reading %s: %v", h.name, what, err)}
}

// isCertError reports whether err is a failure to verify a TLS
// certificate.
func isCertError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}

// isDialError reports whether err is a failure to connect.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isHTTPResponseToHTTPS reports whether err says that a server answered a
// TLS hello in plain HTTP.
func isHTTPResponseToHTTPS(err error) bool {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/" {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
