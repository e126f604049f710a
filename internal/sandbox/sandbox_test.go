package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/stack"
	"github.com/google/go-cmp/cmp"
)

// fakeMaker is an in-memory ImageMaker that records its calls.
type fakeMaker struct {
	arch      string // what Info reports; "" is x86_64
	images    map[string]bool
	existsErr error
	importErr error

	calls   []string // "ImageExists <ref>", "ImportFiles <ref>"
	imports []imported
}

// imported is one ImportFiles call, with each file's data as its hash.
type imported struct {
	Ref     string
	Files   []importedFile
	Changes []string
}

type importedFile struct {
	Name   string
	Mode   int64
	SHA256 string
}

func (m *fakeMaker) Info(context.Context) (stack.EngineInfo, error) {
	if m.arch == "" {
		return stack.EngineInfo{Arch: "x86_64"}, nil
	}
	return stack.EngineInfo{Arch: m.arch}, nil
}

func (m *fakeMaker) ImageExists(_ context.Context, ref string) (bool, error) {
	m.calls = append(m.calls, "ImageExists "+ref)
	if m.existsErr != nil {
		return false, m.existsErr
	}
	return m.images[ref], nil
}

func (m *fakeMaker) ImportFiles(_ context.Context, ref string, files []ImageFile, changes []string) error {
	m.calls = append(m.calls, "ImportFiles "+ref)
	imp := imported{Ref: ref, Changes: changes}
	for _, f := range files {
		imp.Files = append(imp.Files, importedFile{Name: f.Name, Mode: f.Mode, SHA256: sha256Hex(f.Data)})
	}
	m.imports = append(m.imports, imp)
	if m.importErr != nil {
		return m.importErr
	}
	if m.images == nil {
		m.images = map[string]bool{}
	}
	m.images[ref] = true
	return nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestImageRef(t *testing.T) {
	for _, tt := range []struct{ hash, want string }{
		{"0123456789ab", "cjob-sandbox:0123456789ab"},
		{"x", "cjob-sandbox:x"},
	} {
		if diff := cmp.Diff(tt.want, ImageRef(tt.hash)); diff != "" {
			t.Errorf("ImageRef(%q) (-want +got):\n%s", tt.hash, diff)
		}
	}
}

func TestEnsure(t *testing.T) {
	sums, _, err := Sums()
	if err != nil {
		t.Fatal(err)
	}
	amd := sums["amd64"]
	ref := "cjob-sandbox:" + amd[:12]
	made := imported{
		Ref:     ref,
		Files:   []importedFile{{Name: "cjob-sandbox", Mode: 0o755, SHA256: amd}},
		Changes: []string{`ENTRYPOINT ["/cjob-sandbox"]`, `LABEL cjob.sandbox=` + amd[:12]},
	}
	errEngine := errors.New("engine down")

	tests := []struct {
		name        string
		maker       *fakeMaker
		runs        int // calls of Ensure on the same maker; 0 means 1
		wantRef     string
		wantErr     string
		wantIs      error
		wantCalls   []string
		wantImports []imported
	}{
		{
			name:      "image present: no import",
			maker:     &fakeMaker{images: map[string]bool{ref: true}},
			wantRef:   ref,
			wantCalls: []string{"ImageExists " + ref},
		},
		{
			name:        "image missing: imported once from the binary",
			maker:       &fakeMaker{},
			wantRef:     ref,
			wantCalls:   []string{"ImageExists " + ref, "ImportFiles " + ref},
			wantImports: []imported{made},
		},
		{
			name:        "image of another binary present: imported",
			maker:       &fakeMaker{images: map[string]bool{"cjob-sandbox:000000000000": true}},
			wantRef:     ref,
			wantCalls:   []string{"ImageExists " + ref, "ImportFiles " + ref},
			wantImports: []imported{made},
		},
		{
			name:        "second call finds the image the first made",
			maker:       &fakeMaker{},
			runs:        2,
			wantRef:     ref,
			wantCalls:   []string{"ImageExists " + ref, "ImportFiles " + ref, "ImageExists " + ref},
			wantImports: []imported{made},
		},
		{
			name:      "ImageExists error is returned and nothing is imported",
			maker:     &fakeMaker{existsErr: errEngine},
			wantErr:   "engine down",
			wantIs:    errEngine,
			wantCalls: []string{"ImageExists " + ref},
		},
		{
			name:        "ImportFiles error is returned wrapped, naming the image",
			maker:       &fakeMaker{importErr: errEngine},
			wantErr:     "make host sandbox image " + ref + ": engine down",
			wantIs:      errEngine,
			wantCalls:   []string{"ImageExists " + ref, "ImportFiles " + ref},
			wantImports: []imported{made},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var err error
			for range max(tt.runs, 1) {
				got, err = Ensure(context.Background(), tt.maker)
			}
			if diff := cmp.Diff(tt.wantRef, got); diff != "" {
				t.Errorf("ref (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErr, errText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if diff := cmp.Diff(tt.wantCalls, tt.maker.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantImports, tt.maker.imports); diff != "" {
				t.Errorf("imports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnsureByArchitecture(t *testing.T) {
	sums, _, err := Sums()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		engine, want string
	}{{"x86_64", "amd64"}, {"amd64", "amd64"}, {"aarch64", "arm64"}, {"arm64", "arm64"}} {
		m := &fakeMaker{arch: tt.engine}
		ref, err := Ensure(context.Background(), m)
		if err != nil {
			t.Fatalf("%s: %v", tt.engine, err)
		}
		if ref != ImageRef(sums[tt.want][:12]) || len(m.imports) != 1 || m.imports[0].Files[0].SHA256 != sums[tt.want] {
			t.Errorf("an engine reporting %s got %s (%+v), want the linux/%s payload", tt.engine, ref, m.imports, tt.want)
		}
	}
	m := &fakeMaker{arch: "s390x"}
	if _, err := Ensure(context.Background(), m); !errors.Is(err, ErrArch) || !strings.Contains(err.Error(), `"s390x"`) {
		t.Errorf("an s390x engine: %v, want ErrArch naming it", err)
	}
	if len(m.calls) != 0 {
		t.Errorf("calls %v for an engine with no payload", m.calls)
	}
}

// TestPayloads: each payload is what SUMS says, a static Linux executable
// of its architecture (no interpreter, so it runs alone in an empty image).
func TestPayloads(t *testing.T) {
	sums, goVersion, err := Sums()
	if err != nil {
		t.Fatal(err)
	}
	if goVersion == "" || len(sums) != 2 {
		t.Fatalf("SUMS: %v, go %q", sums, goVersion)
	}
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		b, hash, err := Payload(arch)
		if err != nil {
			t.Fatal(err)
		}
		if sha256Hex(b) != sums[arch] || hash != sums[arch][:12] {
			t.Errorf("linux/%s: sha256 %s, SUMS says %s", arch, sha256Hex(b), sums[arch])
		}
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("linux/%s: %v", arch, err)
		}
		if f.Machine != machine || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX || f.Type != elf.ET_EXEC {
			t.Errorf("linux/%s: machine %v, ABI %v, type %v", arch, f.Machine, f.OSABI, f.Type)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("linux/%s is dynamically linked", arch)
			}
		}
		if len(b) > 10<<20 {
			t.Errorf("linux/%s is %d bytes; the sandbox image should stay a few MB", arch, len(b))
		}
	}
	if _, _, err := Payload("s390x"); !errors.Is(err, ErrArch) {
		t.Errorf("Payload(s390x) = %v, want ErrArch", err)
	}
}

// TestPayloadsReproducible rebuilds the payloads from cmd/cjob-sandbox and
// compares them with the ones carried: a change to the program without
// `make payloads` fails here. It needs the Go version that built them.
func TestPayloadsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds the payloads (-short)")
	}
	sums, goVersion, err := Sums()
	if err != nil {
		t.Fatal(err)
	}
	if goVersion != runtime.Version() {
		t.Skipf("SKIPPING: the payloads were built with %s, this is %s; `make payloads` rebuilds them", goVersion, runtime.Version())
	}
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/sandbox/mkpayload", "-o", out)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkpayload: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out + "/SUMS")
	if err != nil {
		t.Fatal(err)
	}
	for arch, sum := range sums {
		if !strings.Contains(string(b), sum+"  cjob-sandbox-linux-"+arch) {
			t.Errorf("linux/%s built from the source differs from the payload carried (SUMS now:\n%s): run `make payloads` and commit", arch, b)
		}
	}
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
