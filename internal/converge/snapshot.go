package converge

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// A snapshot is the dev stack's named volumes saved as files, in a folder
// of its own: manifest.json and one tar per volume. It records the jobs
// file it was taken with, and loads only into a stack with the same
// volumes.

// SnapshotManifest describes a saved snapshot.
type SnapshotManifest struct {
	Name     string           `json:"name"`
	Project  string           `json:"project"`
	File     string           `json:"file"` // hash of the rendered jobs file it was taken with
	Created  time.Time        `json:"created"`
	Volumes  []SnapshotVolume `json:"volumes"`
	Stopped  []string         `json:"stopped,omitempty"` // tasks stopped while it was taken
	Duration time.Duration    `json:"duration_ns"`
}

// SnapshotVolume is one volume of a snapshot.
type SnapshotVolume struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`  // the tar's size
	Files  int    `json:"files"`  // regular files in it
	SHA256 string `json:"sha256"` // of the tar
}

// Bytes is the size of the snapshot's volume files.
func (m *SnapshotManifest) Bytes() int64 {
	var n int64
	for _, v := range m.Volumes {
		n += v.Bytes
	}
	return n
}

// ErrSnapshot is wrapped by every refusal to load a snapshot.
var ErrSnapshot = errors.New("snapshot")

// stackVolumes is the stack's volumes (names, sorted) and, by volume, the
// task units that mount it.
func stackVolumes(st *stack.Stack) ([]string, map[string][]*stack.Unit) {
	users := map[string][]*stack.Unit{}
	var names []string
	for _, v := range st.Volumes {
		names = append(names, v.Name)
	}
	for _, u := range st.Units {
		for _, m := range u.Spec.Mounts {
			if m.Type == "volume" {
				users[m.Source] = append(users[m.Source], u)
			}
		}
	}
	slices.Sort(names)
	return names, users
}

// helper is a container (never started) of the sandbox image with volume
// mounted at /v: the archive API reads and writes the volume through it.
func helper(ctx context.Context, eng Engine, volume string) (string, func(), error) {
	ref, err := sandbox.Ensure(ctx, eng)
	if err != nil {
		return "", nil, err
	}
	var b [4]byte
	rand.Read(b[:])
	id, err := eng.Create(ctx, stack.CreateRequest{
		Name: "cjob-volume-" + hex.EncodeToString(b[:]),
		Spec: stack.Spec{Image: ref, Mounts: []stack.Mount{{Type: "volume", Source: volume, Target: "/v"}}},
	})
	if err != nil {
		return "", nil, fmt.Errorf("volume %s: %w", volume, err)
	}
	return id, func() { eng.Remove(context.WithoutCancel(ctx), id) }, nil
}

// readVolume streams the volume's content as a tar (entries under v/) into
// w and counts its regular files.
func readVolume(ctx context.Context, eng Engine, volume string, w io.Writer) (int, error) {
	id, done, err := helper(ctx, eng, volume)
	if err != nil {
		return 0, err
	}
	defer done()
	r, err := eng.CopyFrom(ctx, id, "/v")
	if err != nil {
		return 0, fmt.Errorf("volume %s: %w", volume, err)
	}
	defer r.Close()
	tee := io.TeeReader(r, w)
	files := 0
	tr := tar.NewReader(tee)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("volume %s: %w", volume, err)
		}
		if h.Typeflag == tar.TypeReg {
			files++
		}
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // the archive's padding
		return 0, fmt.Errorf("volume %s: %w", volume, err)
	}
	return files, nil
}

// writeVolume fills the (empty) volume from the tar file readVolume made.
func writeVolume(ctx context.Context, eng Engine, volume, tarFile string) error {
	f, err := os.Open(tarFile)
	if err != nil {
		return err
	}
	defer f.Close()
	id, done, err := helper(ctx, eng, volume)
	if err != nil {
		return err
	}
	defer done()
	if err := eng.CopyTo(ctx, id, "/", f); err != nil {
		return fmt.Errorf("volume %s: %w", volume, err)
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// SaveSnapshot saves the dev stack's volumes into dir/name: the running
// tasks that mount them are stopped while their volumes are read (a
// consistent copy) and started again. An existing snapshot of that name is
// replaced only with force.
func SaveSnapshot(ctx context.Context, eng Engine, f *prodspec.File, dir, name string, force bool, status func(string)) (*SnapshotManifest, error) {
	start := time.Now()
	if err := validSnapshotName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil && !force {
		return nil, fmt.Errorf("%w %s exists (%s): choose another name, or --force to replace it", ErrSnapshot, name, path)
	}
	prep, err := Prepare(ctx, eng, Options{File: f, Rewrite: devenv.Options{SandboxImage: "-"}})
	if err != nil {
		return nil, err
	}
	names, users := stackVolumes(prep.Rewrite.Stack)
	var have []string
	for _, n := range names {
		if prep.Observed.Volumes[n] {
			have = append(have, n)
		}
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("%w: the dev stack of %s has no volume yet: `cjob dev up` makes them", ErrSnapshot, f.Project)
	}
	// Stop the running tasks that mount them (all at once), and start them
	// again whatever happens.
	byKey := prep.Observed.ByKey()
	var stopped []*stack.Container
	seen := map[string]bool{}
	for _, n := range have {
		for _, u := range users[n] {
			for _, c := range byKey[u.Key] {
				if c.State == stack.StateRunning && !seen[c.ID] {
					seen[c.ID] = true
					stopped = append(stopped, c)
				}
			}
		}
	}
	m := &SnapshotManifest{Name: name, Project: f.Project, File: fileHash(f), Created: time.Now().UTC()}
	defer func() {
		for _, c := range stopped {
			eng.Start(context.WithoutCancel(ctx), c.ID)
		}
	}()
	for _, c := range stopped {
		status("stopping " + c.Key())
		if err := eng.Stop(ctx, c.ID, 10*time.Second); err != nil {
			return nil, err
		}
		m.Stopped = append(m.Stopped, c.Key())
	}
	tmp, err := os.MkdirTemp(dir, "."+name+"-")
	if err != nil {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if tmp, err = os.MkdirTemp(dir, "."+name+"-"); err != nil {
			return nil, err
		}
	}
	defer os.RemoveAll(tmp)
	for _, n := range have {
		status("saving volume " + n)
		out, err := os.OpenFile(filepath.Join(tmp, n+".tar"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		h, size := sha256.New(), &countingWriter{}
		files, err := readVolume(ctx, eng, n, io.MultiWriter(out, h, size))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		m.Volumes = append(m.Volumes, SnapshotVolume{Name: n, Bytes: size.n, Files: files, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	m.Duration = time.Since(start)
	return m, commit(tmp, path, m)
}

// commit writes m into tmp, the snapshot's folder being made, and puts it
// at path in place of any snapshot there.
func commit(tmp, path string, m *SnapshotManifest) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), b, 0o600); err != nil {
		return err
	}
	os.RemoveAll(path)
	return os.Rename(tmp, path)
}

func validSnapshotName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\:`) || strings.HasPrefix(name, ".") || len(name) > 100 {
		return fmt.Errorf("%w name %q: use letters, digits, dashes, dots and underscores", ErrSnapshot, name)
	}
	return nil
}

func fileHash(f *prodspec.File) string {
	b, err := prodspec.Render(f)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// ReadSnapshot reads dir/name's manifest.
func ReadSnapshot(dir, name string) (*SnapshotManifest, error) {
	if err := validSnapshotName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, name, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w %s does not exist: `cjob dev snapshot ls` lists them", ErrSnapshot, name)
	}
	if err != nil {
		return nil, err
	}
	var m SnapshotManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w %s: manifest: %v", ErrSnapshot, name, err)
	}
	return &m, nil
}

// Snapshots lists the snapshots in dir, newest first.
func Snapshots(dir string) ([]SnapshotManifest, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []SnapshotManifest
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if m, err := ReadSnapshot(dir, e.Name()); err == nil {
			out = append(out, *m)
		}
	}
	slices.SortFunc(out, func(a, b SnapshotManifest) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// RemoveSnapshot deletes dir/name.
func RemoveSnapshot(dir, name string) error {
	if _, err := ReadSnapshot(dir, name); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(dir, name))
}

// volume is the file of the snapshot's volume name, checked against the
// manifest's checksum (read through once, not held in memory).
func (m *SnapshotManifest) volume(dir, name string) (string, error) {
	path := filepath.Join(dir, m.Name, name+".tar")
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	for _, v := range m.Volumes {
		if v.Name == name && hex.EncodeToString(h.Sum(nil)) != v.SHA256 {
			return "", fmt.Errorf("%w %s: %s.tar is damaged (its checksum differs from the manifest's)", ErrSnapshot, m.Name, name)
		}
	}
	return path, nil
}

// SeedVolumes fills the stack's volumes that do not exist yet from
// snapshot dir/name, before `dev up` starts the jobs that use them: volumes
// that exist are left as they are. It returns the volumes it filled.
func SeedVolumes(ctx context.Context, eng Engine, prep *Prepared, dir, name string) ([]string, error) {
	m, err := ReadSnapshot(dir, name)
	if err != nil {
		return nil, err
	}
	var seeded []string
	for _, v := range m.Volumes {
		if prep.Observed.Volumes[v.Name] || !slices.ContainsFunc(prep.Rewrite.Stack.Volumes, func(sv stack.Volume) bool { return sv.Name == v.Name }) {
			continue
		}
		file, err := m.volume(dir, v.Name)
		if err != nil {
			return nil, err
		}
		if err := eng.EnsureVolume(ctx, v.Name, map[string]string{stack.LabelProject: prep.File.Project, stack.LabelEnv: devenv.Env.String()}); err != nil {
			return nil, err
		}
		if err := writeVolume(ctx, eng, v.Name, file); err != nil {
			return nil, err
		}
		seeded = append(seeded, v.Name)
	}
	return seeded, nil
}

// LoadSnapshot puts snapshot dir/name back into the dev stack's volumes: the
// jobs that mount them are removed, their volumes replaced by the
// snapshot's, and the jobs brought up again. It is refused when the
// stack's volumes are not the snapshot's (the difference named), and,
// without force, when a volume it would replace holds data.
//
// With jobs, only those jobs' volumes are put back (`dev reset`); the
// snapshot must hold them.
func LoadSnapshot(ctx context.Context, eng Engine, f *prodspec.File, dir, name string, force bool, jobs []string, opts UpOptions) ([]string, error) {
	m, err := ReadSnapshot(dir, name)
	if err != nil {
		return nil, err
	}
	prep, err := Prepare(ctx, eng, Options{File: f, Rewrite: devenv.Options{SandboxImage: "-"}})
	if err != nil {
		return nil, err
	}
	names, users := stackVolumes(prep.Rewrite.Stack)
	var snap []string
	for _, v := range m.Volumes {
		snap = append(snap, v.Name)
	}
	if len(jobs) > 0 {
		var mine []string
		for _, n := range names {
			if slices.ContainsFunc(users[n], func(u *stack.Unit) bool { return slices.Contains(jobs, u.Job) }) {
				mine = append(mine, n)
			}
		}
		if len(mine) == 0 {
			return nil, fmt.Errorf("%w: %s mounts no volume: nothing to reset", ErrSnapshot, strings.Join(jobs, ", "))
		}
		for _, n := range mine {
			if !slices.Contains(snap, n) {
				return nil, fmt.Errorf("%w %s does not hold volume %s of %s (it holds %s)", ErrSnapshot, name, n, strings.Join(jobs, ", "), list(snap))
			}
		}
		names = mine
	} else if !slices.Equal(names, snap) {
		return nil, fmt.Errorf("%w %s holds the volumes %s; the dev stack of %s has %s: it was taken from another stack or jobs file (%s)",
			ErrSnapshot, name, list(snap), f.Project, list(names), m.File)
	}
	if !force {
		for _, n := range names {
			if !prep.Observed.Volumes[n] {
				continue
			}
			files, err := readVolume(ctx, eng, n, io.Discard)
			if err != nil {
				return nil, err
			}
			if files > 0 {
				return nil, fmt.Errorf("%w: volume %s holds %d files that loading %s would replace: --force replaces them (`cjob dev snapshot save` first keeps them)", ErrSnapshot, n, files, name)
			}
		}
	}
	using := map[string]bool{}
	for _, n := range names {
		for _, u := range users[n] {
			using[u.Job] = true
		}
	}
	if len(using) > 0 {
		if _, res, err := Down(ctx, eng, DownOptions{Project: f.Project, Only: using, Reporter: opts.Reporter}); err != nil {
			return nil, err
		} else if err := res.Err(); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if err := eng.RemoveVolume(ctx, n); err != nil {
			return nil, err
		}
	}
	for v := range prep.Observed.Volumes {
		if slices.Contains(names, v) {
			delete(prep.Observed.Volumes, v)
		}
	}
	if _, err := SeedVolumes(ctx, eng, prep, dir, name); err != nil {
		return nil, err
	}
	var only []string
	for j := range using {
		only = append(only, j)
	}
	slices.Sort(only)
	up, err := Prepare(ctx, eng, Options{File: f, Rewrite: devenv.Options{Only: only}})
	if err != nil {
		return nil, err
	}
	res, err := Up(ctx, eng, up, opts)
	if err != nil {
		return nil, err
	}
	return names, res.Err()
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Media types of a snapshot kept in a registry as an OCI artifact: the
// manifest.json is its config, each volume's tar a layer.
const (
	SnapshotArtifactType = "application/vnd.cjob.snapshot.v1"
	snapshotConfigType   = "application/vnd.cjob.snapshot.config.v1+json"
	snapshotVolumeType   = "application/vnd.cjob.volume.v1.tar"
)

// SnapshotArtifact is snapshot dir/name as an artifact's config and layers.
func SnapshotArtifact(dir, name string) ([]byte, []registry.ArtifactLayer, error) {
	m, err := ReadSnapshot(dir, name)
	if err != nil {
		return nil, nil, err
	}
	config, err := os.ReadFile(filepath.Join(dir, name, "manifest.json"))
	if err != nil {
		return nil, nil, err
	}
	var layers []registry.ArtifactLayer
	for _, v := range m.Volumes {
		file, err := m.volume(dir, v.Name)
		if err != nil {
			return nil, nil, err
		}
		data, err := os.ReadFile(file) // the registry client sends a blob whole
		if err != nil {
			return nil, nil, err
		}
		layers = append(layers, registry.ArtifactLayer{Title: v.Name + ".tar", MediaType: snapshotVolumeType, Data: data})
	}
	return config, layers, nil
}

// WriteSnapshotArtifact stores a pulled artifact as snapshot dir/name (the
// name it was saved with when name is ""), checking each volume against
// the manifest; an existing snapshot is replaced only with force.
func WriteSnapshotArtifact(dir, name string, config []byte, layers []registry.ArtifactLayer, force bool) (*SnapshotManifest, error) {
	var m SnapshotManifest
	if err := json.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("%w: the artifact's manifest: %v", ErrSnapshot, err)
	}
	if name == "" {
		name = m.Name
	}
	if err := validSnapshotName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil && !force {
		return nil, fmt.Errorf("%w %s exists here: pull it under another name, or --force to replace it", ErrSnapshot, name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, "."+name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	byTitle := map[string][]byte{}
	for _, l := range layers {
		byTitle[l.Title] = l.Data
	}
	for _, v := range m.Volumes {
		data, ok := byTitle[v.Name+".tar"]
		sum := sha256.Sum256(data)
		if !ok || hex.EncodeToString(sum[:]) != v.SHA256 {
			return nil, fmt.Errorf("%w: the artifact's volume %s is missing or does not match its checksum", ErrSnapshot, v.Name)
		}
		if err := os.WriteFile(filepath.Join(tmp, v.Name+".tar"), data, 0o600); err != nil {
			return nil, err
		}
	}
	m.Name = name
	return &m, commit(tmp, path, &m)
}
