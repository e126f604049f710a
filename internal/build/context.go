package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/patternmatcher"
)

// ErrSourceChanged is returned when a file changed between the content
// hash and the moment it was sent to the engine (typically: saved again
// during a build). Building again is the remedy; a watcher will do so on
// the change's own event.
var ErrSourceChanged = errors.New("source changed during the build")

// entry is one member of a build context: a file, directory or symlink
// read from disk, or generated content.
type entry struct {
	name  string      // path in the context, slash-separated, no leading "./"
	src   string      // file on disk (regular files only); "" for data
	data  []byte      // generated content (src == "")
	mode  fs.FileMode // type and permission bits
	size  int64
	mtime time.Time
	link  string   // symlink target
	sum   [32]byte // SHA-256 of the content (regular files), set by hashFiles
	stat  fileStat // identifies the version read from disk
}

// fileStat identifies a version of a file: a file whose fileStat is
// unchanged has not been written since (with the proviso of digestCache).
type fileStat struct {
	size     int64
	mtime    int64
	dev, ino uint64
	ctime    int64
	ok       bool
}

// statOf is fi's fileStat.
func statOf(fi fs.FileInfo) fileStat {
	dev, ino, ctime := statID(fi)
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), dev: dev, ino: ino, ctime: ctime, ok: true}
}

// digestCache remembers the digests of files read before, by path and
// fileStat, so that the builds of a watch loop read only what changed.
// Like git's index, it holds only files last written well before they were
// read (racyWindow): a file written again within the same timestamp tick
// cannot then pass for the version cached.
var digestCache = struct {
	sync.Mutex
	m map[string]cachedDigest
}{m: map[string]cachedDigest{}}

// cachedDigest is a file's digest and the version it is the digest of.
type cachedDigest struct {
	stat fileStat
	sum  [32]byte
}

// racyWindow is how long before a read a file's last write (modification
// or change time) must be for its digest to be cached.
const racyWindow = 2 * time.Second

// cachedSum sets e's digest from the cache and reports whether it could.
func cachedSum(e *entry) bool {
	if !e.stat.ok {
		return false
	}
	digestCache.Lock()
	c, ok := digestCache.m[e.src]
	digestCache.Unlock()
	if ok && c.stat == e.stat {
		e.sum = c.sum
		return true
	}
	return false
}

// cacheSum caches e's digest, read from disk at readAt, unless the file
// was written too shortly before.
func cacheSum(e *entry, readAt time.Time) {
	limit := readAt.Add(-racyWindow).UnixNano()
	if !e.stat.ok || e.stat.mtime >= limit || e.stat.ctime >= limit {
		return
	}
	digestCache.Lock()
	digestCache.m[e.src] = cachedDigest{stat: e.stat, sum: e.sum}
	digestCache.Unlock()
}

// modeBits is the part of a file mode that goes into the context and the
// hash: its type and permissions, not the platform's extras.
const modeBits = fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// walkTree lists the files, directories and symlinks of dir that m keeps,
// in lexical order (filepath.WalkDir's), with names relative to dir. Other
// file types (sockets, devices, pipes) are left out. Ignored directories are
// not entered unless an exception may re-include something below them; as
// with docker, such a directory is then not listed itself, only what comes
// back.
func walkTree(dir string, m *Matcher) ([]entry, error) {
	var entries []entry
	infos := map[string]patternmatcher.MatchInfo{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		out, info, err := m.match(rel, infos[path.Dir(rel)])
		if err != nil {
			return fmt.Errorf("%s: .dockerignore: %w", rel, err)
		}
		if d.IsDir() {
			infos[rel] = info
		}
		if out {
			if d.IsDir() && !m.reincludesBelow(rel) {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{name: rel, mode: fi.Mode() & modeBits, mtime: fi.ModTime()}
		switch {
		case fi.Mode().IsRegular():
			e.src, e.size, e.stat = p, fi.Size(), statOf(fi)
		case fi.IsDir():
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return nil
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// hashFiles sets the content digest of every regular file: from the
// digest cache when the file is unchanged since it was last read, else
// reading it, with files read in parallel (small files cost a few system
// calls each, so one reader would wait on them in turn).
func hashFiles(ctx context.Context, entries []entry) error {
	var todo []int
	for i := range entries {
		e := &entries[i]
		switch {
		case e.src != "":
			if !cachedSum(e) {
				todo = append(todo, i)
			}
		case e.mode.IsRegular():
			e.sum = sha256.Sum256(e.data)
		}
	}
	readAt := time.Now()
	workers := min(max(runtime.GOMAXPROCS(0), 1), 16, len(todo))
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			h := sha256.New()
			for {
				n := int(next.Add(1)) - 1
				if n >= len(todo) || ctx.Err() != nil {
					return
				}
				e := &entries[todo[n]]
				if err := hashFile(h, buf, e); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(len(todo)))
					return
				}
				cacheSum(e, readAt)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// hashFile digests one file from disk into e.sum, using h and buf.
func hashFile(h hash.Hash, buf []byte, e *entry) error {
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	h.Reset()
	// Hide *os.File's WriteTo, which would copy through a buffer of its own.
	n, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf)
	if err != nil {
		return fmt.Errorf("%s: %w", e.src, err)
	}
	if n != e.size {
		return fmt.Errorf("%s: %w (size %d, now %d)", e.src, ErrSourceChanged, e.size, n)
	}
	h.Sum(e.sum[:0])
	return nil
}

// hasher builds the content hash: named parameters, then entries, each
// length-prefixed so that no two different inputs write the same bytes.
type hasher struct{ h hash.Hash }

func newHasher() *hasher {
	h := &hasher{h: sha256.New()}
	h.param("cjob-build", "1")
	return h
}

// param adds a named value.
func (h *hasher) param(name, value string) {
	h.str(name)
	h.str(value)
}

// entries adds the entries (their digests must be set).
func (h *hasher) entries(es []entry) {
	for _, e := range es {
		h.str(e.name)
		var b [12]byte
		binary.BigEndian.PutUint32(b[:4], uint32(e.mode))
		binary.BigEndian.PutUint64(b[4:], uint64(e.size))
		h.h.Write(b[:])
		h.str(e.link)
		if e.mode.IsRegular() {
			h.h.Write(e.sum[:])
		}
	}
}

func (h *hasher) str(s string) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(len(s)))
	h.h.Write(b[:])
	io.WriteString(h.h, s)
}

// sum is the hash's 12 leading hex digits.
func (h *hasher) sum() string { return hex.EncodeToString(h.h.Sum(nil))[:12] }

// prefixed returns the entries with prefix/ in front of their names, after
// a directory entry for prefix and each of its parents.
func prefixed(prefix string, es []entry, mtime time.Time) []entry {
	if prefix == "" {
		return es
	}
	var out []entry
	parts := strings.Split(prefix, "/")
	for i := range parts {
		out = append(out, entry{name: strings.Join(parts[:i+1], "/"), mode: fs.ModeDir | 0o755, mtime: mtime})
	}
	for _, e := range es {
		e.name = prefix + "/" + e.name
		out = append(out, e)
	}
	return out
}

// writeTar writes the entries to w as a tar stream, reading files from disk
// one at a time. Ownership is root's, as docker's own client sends it; a
// file whose size or modification time changed since the walk fails the
// stream with ErrSourceChanged.
func writeTar(w io.Writer, es []entry) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 256<<10)
	for _, e := range es {
		hdr := &tar.Header{
			Name:    e.name,
			Mode:    tarMode(e.mode),
			ModTime: e.mtime,
		}
		switch {
		case e.mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.name+"/"
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		default:
			hdr.Typeflag = tar.TypeReg
		}
		if e.src == "" {
			if hdr.Typeflag == tar.TypeReg {
				hdr.Size = int64(len(e.data))
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(tw, hdr, e, buf); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyFile writes one file from disk, checking it is still the file the
// walk saw.
func copyFile(tw *tar.Writer, hdr *tar.Header, e entry, buf []byte) error {
	f, err := os.Open(e.src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w (removed)", e.src, ErrSourceChanged)
		}
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != e.size || !fi.ModTime().Equal(e.mtime) {
		return fmt.Errorf("%s: %w", e.src, ErrSourceChanged)
	}
	hdr.Size = e.size
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.CopyBuffer(tw, io.LimitReader(f, e.size), buf)
	if err != nil {
		return fmt.Errorf("%s: %w", e.src, err)
	}
	if n != e.size {
		return fmt.Errorf("%s: %w (shorter than %d bytes)", e.src, ErrSourceChanged, e.size)
	}
	return nil
}

// tarMode is the tar header's mode for a file mode: permissions and the
// setuid, setgid and sticky bits in their Unix places.
func tarMode(m fs.FileMode) int64 {
	t := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		t |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		t |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		t |= 0o1000
	}
	return t
}
