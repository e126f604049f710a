// Command mkpayload builds cmd/cjob-sandbox for every architecture the
// host sandbox runs on and writes the payloads that every cjob build
// carries (internal/sandbox/payload): gzip files with no name and no time
// in their header, and SUMS, the SHA-256 of each program and the Go
// version that built it. The build is reproducible: CGO_ENABLED=0,
// -trimpath, no build ID, no VCS stamp; the same source and Go version give
// the same bytes. Run it with `go generate ./internal/sandbox` or
// `make payloads`, from the module root.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Arches are the engine architectures the host sandbox is built for.
var Arches = []string{"amd64", "arm64"}

func main() {
	out := flag.String("o", "internal/sandbox/payload", "output folder")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "mkpayload:", err)
		os.Exit(1)
	}
}

// Build builds the program for arch and returns its bytes.
func build(arch string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "cjob-sandbox-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "cjob-sandbox")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", bin, "./cmd/cjob-sandbox")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for linux/%s: %w", arch, err)
	}
	return os.ReadFile(bin)
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var sums strings.Builder
	fmt.Fprintf(&sums, "# go: %s\n", runtime.Version())
	for _, arch := range Arches {
		b, err := build(arch)
		if err != nil {
			return err
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		if _, err := zw.Write(b); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		name := "cjob-sandbox-linux-" + arch + ".gz"
		if err := os.WriteFile(filepath.Join(out, name), z.Bytes(), 0o644); err != nil {
			return err
		}
		s := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  cjob-sandbox-linux-%s\n", hex.EncodeToString(s[:]), arch)
		fmt.Printf("linux/%s: %d bytes, %d gzipped\n", arch, len(b), z.Len())
	}
	return os.WriteFile(filepath.Join(out, "SUMS"), []byte(sums.String()), 0o644)
}
