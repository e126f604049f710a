// Package sandbox makes the host sandbox image: a one-file image holding
// cjob-sandbox (cmd/cjob-sandbox), built for the engine's architecture.
// Every cjob build carries the programs for linux/amd64 and linux/arm64
// (payload/, made by `make payloads`, reproducible), so the image is made
// locally with nothing pulled, whatever platform cjob itself was built for.
//
// In dev, each production host is a sandbox container: PID 1 of the host's
// namespaces (it reaps zombies), and where cjob runs its probes and file
// operations through the engine (exec), never over a route of its own.
package sandbox

//go:generate go run ./mkpayload -o payload

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cjob/cjob/internal/stack"
)

//go:embed payload/*.gz payload/SUMS
var payloads embed.FS

// Program is the path of cjob-sandbox in the sandbox image (and in the
// static template's image, as its file server).
const Program = "/cjob-sandbox"

// ImageMaker is what Ensure needs of an engine.
type ImageMaker interface {
	Info(ctx context.Context) (stack.EngineInfo, error)
	ImageExists(ctx context.Context, ref string) (bool, error)
	ImportFiles(ctx context.Context, ref string, files []ImageFile, changes []string) error
}

// ImageFile is one file of an image made by ImportFiles.
type ImageFile struct {
	Name string
	Mode int64
	Data []byte
}

// ErrArch means the engine runs an architecture no payload is built for.
var ErrArch = errors.New("no host sandbox for this engine's architecture")

// Arch maps what an engine reports (Docker: x86_64, aarch64; Podman: amd64,
// arm64) onto a payload's architecture.
func Arch(engineArch string) (string, error) {
	switch strings.ToLower(engineArch) {
	case "x86_64", "amd64", "x86-64":
		return "amd64", nil
	case "aarch64", "arm64", "armv8":
		return "arm64", nil
	}
	return "", fmt.Errorf("%w: the engine reports %q; cjob's host sandbox runs on linux/amd64 and linux/arm64 engines", ErrArch, engineArch)
}

var (
	cacheMu sync.Mutex
	cache   = map[string][]byte{}
)

// Payload is cjob-sandbox for linux/arch (amd64 or arm64) and its short
// content hash.
func Payload(arch string) ([]byte, string, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	b, ok := cache[arch]
	if !ok {
		z, err := payloads.ReadFile("payload/cjob-sandbox-linux-" + arch + ".gz")
		if err != nil {
			return nil, "", fmt.Errorf("%w: linux/%s", ErrArch, arch)
		}
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, "", fmt.Errorf("host sandbox payload for linux/%s: %w", arch, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, "", fmt.Errorf("host sandbox payload for linux/%s: %w", arch, err)
		}
		cache[arch] = b
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])[:12], nil
}

// Sums are the SHA-256 of each payload as SUMS records them, by
// architecture, and the Go version that built them.
func Sums() (map[string]string, string, error) {
	b, err := payloads.ReadFile("payload/SUMS")
	if err != nil {
		return nil, "", err
	}
	out := map[string]string{}
	goVersion := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "# go: "); ok {
			goVersion = v
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if ok {
			out[strings.TrimPrefix(name, "cjob-sandbox-linux-")] = sum
		}
	}
	return out, goVersion, nil
}

// ForEngine is the payload the engine runs, by the architecture it reports.
func ForEngine(ctx context.Context, m ImageMaker) ([]byte, string, error) {
	info, err := m.Info(ctx)
	if err != nil {
		return nil, "", err
	}
	arch, err := Arch(info.Arch)
	if err != nil {
		return nil, "", err
	}
	return Payload(arch)
}

// Name is the sandbox image's repository; ImageRef tags it by payload.
const Name = "cjob-sandbox"

// ImageRef is the tag of the sandbox image of the payload with this hash.
func ImageRef(hash string) string { return Name + ":" + hash }

// Ensure makes the sandbox image for the engine's architecture unless the
// engine already has it, and returns its reference.
func Ensure(ctx context.Context, m ImageMaker) (string, error) {
	data, hash, err := ForEngine(ctx, m)
	if err != nil {
		return "", err
	}
	ref := ImageRef(hash)
	ok, err := m.ImageExists(ctx, ref)
	if err != nil {
		return "", err
	}
	if ok {
		return ref, nil
	}
	err = m.ImportFiles(ctx, ref, []ImageFile{{Name: strings.TrimPrefix(Program, "/"), Mode: 0o755, Data: data}},
		[]string{`ENTRYPOINT ["` + Program + `"]`, `LABEL cjob.sandbox=` + hash})
	if err != nil {
		return "", fmt.Errorf("make host sandbox image %s: %w", ref, err)
	}
	return ref, nil
}
