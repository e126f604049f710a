// Package watch watches a source folder recursively and reports debounced
// batches of changed and removed paths, so that a burst of saves (an editor's
// write-temp-and-rename dance, a git checkout touching hundreds of files)
// triggers a single rebuild.
//
// Paths matched by an [Ignorer] (typically built from .dockerignore), any
// .git folder and the root's own .cjob folder produce no events, and ignored
// folders are not watched at all.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is the quiet period used when Options.Debounce is zero.
const DefaultDebounce = 100 * time.Millisecond

// MaxLatency caps how long a burst that never goes quiet is held back: its
// changes are delivered at most this long after its first event (or after
// Options.Debounce, if that is longer).
const MaxLatency = 2 * time.Second

// maxQueuedErrors bounds the errors kept while nobody reads Errors; beyond
// it the oldest are dropped.
const maxQueuedErrors = 64

// Ignorer says whether a path (slash-separated, relative to the watched root)
// is excluded.
//
// A folder for which Ignored returns true is neither watched nor walked, so
// nothing below it is ever reported: an Ignorer that can re-include paths
// under an excluded folder (a .dockerignore "!" rule) must return false for
// that folder.
type Ignorer interface {
	Ignored(rel string, isDir bool) bool
}

// Options configures a Watcher.
type Options struct {
	Root     string        // folder to watch, recursively
	Ignore   Ignorer       // may be nil; .git is always ignored
	Debounce time.Duration // quiet period before a batch is delivered; 0 (or less) means DefaultDebounce
	Clock    Clock         // nil: real time; injected so tests drive time
}

// Batch is the net effect of one burst of file-system activity. Paths are
// slash-separated, relative to the root, and include folders as well as
// files.
//
// A path created and removed again before its batch was delivered appears in
// neither list; a path removed and created again appears in Changed.
// Attribute-only changes (chmod, touch without write) are not reported.
type Batch struct {
	Changed []string // relative paths created or written, sorted, unique
	Removed []string // relative paths removed or renamed away, sorted, unique
}

// Watcher watches a folder tree. Create one with New, read Batches and Errors
// until done, then call Close.
type Watcher struct {
	root   string // absolute, cleaned
	prefix string // root with a trailing separator
	ignore Ignorer
	fsw    *fsnotify.Watcher

	batches chan Batch
	stir    chan struct{} // a change was seen; see Stirring
	errs    chan error
	tick    chan struct{} // coalescer timer wake-ups
	done    chan struct{} // closed by Close
	exited  chan struct{} // closed when the loop goroutine returns

	closeOnce sync.Once
	closeErr  error

	// Owned by the loop goroutine (and by New before it starts).
	co     *coalescer
	known  map[string]bool // non-ignored paths seen under root -> isDir
	errQ   []error         // errors waiting to be delivered on errs
	closed bool            // the root went away; nothing more will happen

	warning string // see Warning
}

// New starts watching opts.Root and every non-ignored folder below it. The
// returned Watcher reports changes made after New returns.
func New(opts Options) (*Watcher, error) {
	if opts.Root == "" {
		return nil, errors.New("watch: no root folder")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch: %s is not a folder", root)
	}
	debounce := opts.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	clock := opts.Clock
	if clock == nil {
		clock = realClock{}
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}

	w := &Watcher{
		root:    root,
		prefix:  strings.TrimSuffix(root, string(filepath.Separator)) + string(filepath.Separator),
		ignore:  opts.Ignore,
		fsw:     fsw,
		batches: make(chan Batch),
		stir:    make(chan struct{}, 1),
		errs:    make(chan error),
		tick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
		known:   map[string]bool{},
	}
	w.co = newCoalescer(clock, debounce, MaxLatency, w.wake)

	if err := fsw.Add(root); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watch: %s: %w", root, err)
	}
	if err := w.walk(root, ".", false); err != nil {
		fsw.Close()
		return nil, err
	}
	if fs := remoteFS(root); fs != "" {
		w.warning = fmt.Sprintf("%s is on a %s filesystem: only changes saved on this machine are seen; edits made on the other side (the server, the host of a VM share) are not", root, fs)
	}
	go w.loop()
	return w, nil
}

// Batches delivers one Batch per burst of changes. If the reader falls
// behind, later bursts are merged into the undelivered batch. The channel is
// closed by Close.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// Errors delivers problems that do not stop the watcher, such as a folder
// that could not be watched or an event-queue overflow (after which changes
// may have been missed). The channel is closed by Close.
func (w *Watcher) Errors() <-chan error { return w.errs }

// Stirring receives a value when a change is seen that a batch will carry
// (the batch itself comes after the debounce): for work that may start
// early, at its own risk, such as a build whose inputs it then checks.
// Values do not queue up: one waits at most.
func (w *Watcher) Stirring() <-chan struct{} { return w.stir }

func (w *Watcher) stirred() {
	select {
	case w.stir <- struct{}{}:
	default:
	}
}

// Close stops watching, waits for the watcher's goroutines to finish and
// closes Batches and Errors. Undelivered changes are discarded. Close may be
// called more than once.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		<-w.exited
		w.closeErr = w.fsw.Close()
	})
	return w.closeErr
}

// wake is the coalescer's timer callback. It runs on a timer goroutine, so it
// only nudges the loop.
func (w *Watcher) wake() {
	select {
	case w.tick <- struct{}{}:
	default:
	}
}

// loop owns the watcher's state: it consumes fsnotify events, drives the
// coalescer and delivers batches and errors.
func (w *Watcher) loop() {
	defer close(w.exited)
	defer close(w.errs)
	defer close(w.batches)
	defer w.co.stop()

	events, fsErrs := w.fsw.Events, w.fsw.Errors
	for {
		var (
			out     chan<- Batch
			next    Batch
			errOut  chan<- error
			nextErr error
		)
		if b, ok := w.co.batch(); ok {
			out, next = w.batches, b
		}
		if len(w.errQ) > 0 {
			errOut, nextErr = w.errs, w.errQ[0]
		}
		select {
		case <-w.done:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			w.handle(ev)
		case err, ok := <-fsErrs:
			if !ok {
				fsErrs = nil
				continue
			}
			w.report(fmt.Errorf("watch: %w", err))
		case <-w.tick:
			w.co.fire()
		case out <- next:
			w.co.take()
		case errOut <- nextErr:
			w.errQ[0] = nil
			w.errQ = w.errQ[1:]
		}
	}
}

// report queues err for delivery on Errors.
func (w *Watcher) report(err error) {
	if len(w.errQ) >= maxQueuedErrors {
		w.errQ = w.errQ[1:]
	}
	w.errQ = append(w.errQ, err)
}

// handle applies one fsnotify event.
func (w *Watcher) handle(ev fsnotify.Event) {
	if w.closed {
		return
	}
	rel, ok := w.rel(ev.Name)
	if !ok {
		return
	}
	if rel == "." {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			w.rootGone()
		}
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.removed(rel)
	}
	switch {
	case ev.Has(fsnotify.Create):
		w.created(rel, ev.Name)
	case ev.Has(fsnotify.Write):
		w.written(rel, ev.Name)
	}
	// Chmod alone is deliberately ignored: it is frequent noise (indexers,
	// backup tools, touch) and rarely changes what gets built.
}

// created handles a path that appeared, walking it if it is a folder so that
// entries created before its watch was added are reported too.
func (w *Watcher) created(rel, abs string) {
	fi, err := os.Lstat(abs)
	isDir := err == nil && fi.IsDir()
	if w.ignored(rel, isDir) {
		return
	}
	// Even if the path is already gone, record the creation: the matching
	// removal cancels it out.
	w.known[rel] = isDir
	w.co.add(rel, opCreate)
	w.stirred()
	if !isDir {
		return
	}
	if err := w.fsw.Add(abs); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.report(fmt.Errorf("watch: %s: %w", rel, err))
		}
		return
	}
	if err := w.walk(abs, rel, true); err != nil {
		w.report(err)
	}
}

// written handles a write to a path.
func (w *Watcher) written(rel, abs string) {
	isDir, ok := w.known[rel]
	if !ok {
		// Not seen before: either a race with a rename of its folder (the
		// event then names the old, gone path) or a file we missed.
		fi, err := os.Lstat(abs)
		if err != nil {
			return
		}
		isDir = fi.IsDir()
	}
	if w.ignored(rel, isDir) {
		return
	}
	w.known[rel] = isDir
	w.co.add(rel, opWrite)
	w.stirred()
}

// removed handles a path that was removed or renamed away. If it was a
// folder, its watches go away and everything known below it is reported
// removed too (a folder renamed away produces no events for its contents).
func (w *Watcher) removed(rel string) {
	isDir := w.known[rel]
	if w.ignored(rel, isDir) {
		return
	}
	delete(w.known, rel)
	w.co.add(rel, opRemove)
	w.stirred()
	if !isDir {
		return
	}
	w.unwatch(rel)
	under := rel + "/"
	for p, dir := range w.known {
		if !strings.HasPrefix(p, under) {
			continue
		}
		delete(w.known, p)
		w.co.add(p, opRemove)
		if dir {
			w.unwatch(p)
		}
	}
}

// rootGone handles the removal or renaming of the root itself: everything is
// reported removed and the watcher goes idle.
func (w *Watcher) rootGone() {
	for p, dir := range w.known {
		w.co.add(p, opRemove)
		if dir {
			w.unwatch(p)
		}
	}
	clear(w.known)
	w.unwatch(".")
	w.closed = true
	w.report(fmt.Errorf("watch: %s was removed or renamed; no longer watching", w.root))
}

// unwatch removes the watch on rel, if any. The kernel may already have
// dropped it, so errors are ignored.
func (w *Watcher) unwatch(rel string) {
	_ = w.fsw.Remove(w.abs(rel))
}

// walk adds watches on every non-ignored folder below abs (whose own watch
// the caller has added) and records what it finds; when report is set, the
// entries found are reported as created. Entries that vanish during the walk
// are skipped and subfolders that cannot be read are reported on Errors; an
// unreadable abs itself, or running out of inotify watches, aborts the walk
// with an error.
func (w *Watcher) walk(abs, rel string, report bool) error {
	return filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if p == abs {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("watch: %s: %w", rel, err)
			}
			return nil
		}
		childRel, ok := w.rel(p)
		if !ok {
			return nil
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.report(fmt.Errorf("watch: %s: %w", childRel, err))
			}
			return nil // WalkDir skips the unreadable folder
		}
		isDir := d.IsDir()
		if w.ignored(childRel, isDir) {
			if isDir {
				return filepath.SkipDir
			}
			return nil
		}
		w.known[childRel] = isDir
		if report {
			w.co.add(childRel, opCreate)
		}
		if !isDir {
			return nil
		}
		if err := w.fsw.Add(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			if isWatchLimit(err) {
				return fmt.Errorf("watch: %s: %w", childRel, limitHint(err))
			}
			w.report(fmt.Errorf("watch: %s: %w", childRel, err))
			return filepath.SkipDir
		}
		return nil
	})
}

// isWatchLimit reports whether err means the process ran out of watches or
// file descriptors, which no amount of retrying fixes.
func isWatchLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE)
}

// limitHint says which limit ran out, and what to do.
func limitHint(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: out of inotify watches, one per folder (raise them: sysctl fs.inotify.max_user_watches=524288; or exclude large folders in .dockerignore)", err)
	}
	return fmt.Errorf("%w: out of file descriptors (on macOS every watched file takes one: exclude large folders in .dockerignore, or raise the limit with ulimit -n)", err)
}

// Warning says why changes may go unseen in this folder ("" when they
// will not): a network or FUSE filesystem (sshfs, NFS, SMB, a VM's shared
// folder) reports only the changes made on this machine.
func (w *Watcher) Warning() string { return w.warning }

// ignored reports whether rel is excluded, by the built-in rules or by the
// configured Ignorer.
func (w *Watcher) ignored(rel string, isDir bool) bool {
	if builtinIgnored(rel) {
		return true
	}
	return w.ignore != nil && w.ignore.Ignored(rel, isDir)
}

// builtinIgnored excludes any .git folder (or a submodule's .git file), any
// node_modules folder (the package manager's, rebuilt from package.json,
// and often the largest tree by far) and the root's own .cjob folder.
func builtinIgnored(rel string) bool {
	if rel == ".cjob" || strings.HasPrefix(rel, ".cjob/") {
		return true
	}
	for rest := rel; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "/")
		if part == ".git" || part == "node_modules" {
			return true
		}
	}
	return false
}

// rel converts an absolute path under the root to a slash-separated relative
// path; "." is the root itself.
func (w *Watcher) rel(abs string) (string, bool) {
	if abs == w.root {
		return ".", true
	}
	r, ok := strings.CutPrefix(abs, w.prefix)
	if !ok || r == "" {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// abs converts a relative path back to an absolute one.
func (w *Watcher) abs(rel string) string {
	if rel == "." {
		return w.root
	}
	return filepath.Join(w.root, filepath.FromSlash(rel))
}
