package prodspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/golden"
)

// caseFiles lists the jobs files of a testdata directory, YAML and legacy.
func caseFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yml", "*.pb.txt"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no test files in %s", dir)
	}
	return files
}

// goldenName is the golden file of a test file: case.yml -> case.golden.
func goldenName(path string) string {
	return strings.TrimSuffix(strings.TrimSuffix(path, ".yml"), ".pb.txt") + ".golden"
}

// TestErrors loads each file in testdata/errors, which must fail, and
// compares the full error list with its golden file. Errors name the file
// by its base name, so goldens do not depend on where the test runs.
func TestErrors(t *testing.T) {
	for _, path := range caseFiles(t, "testdata/errors") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(filepath.Base(path), data, LoadOptions{Set: map[string]string{"from-set": "x"}})
			if err == nil {
				out, _ := Render(f)
				t.Fatalf("loaded without error:\n%s", out)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			for _, e := range list {
				if e.Line == 0 && !strings.HasSuffix(path, ".pb.txt") {
					t.Errorf("error without a position: %v", e)
				}
			}
			golden.Check(t, goldenName(path), list.Format())
		})
	}
}

// TestValid loads each file in testdata/valid and the legacy sample, and
// compares the rendered file (and its warnings, as comments) with its golden
// file. Rendering and loading again must give the same File.
func TestValid(t *testing.T) {
	files := append(caseFiles(t, "testdata/valid"), "testdata/legacy/jobs.pb.txt")
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Load(path, LoadOptions{})
			if err != nil {
				if l, ok := err.(ErrorList); ok {
					t.Fatalf("load:\n%s", l.Format())
				}
				t.Fatal(err)
			}
			out, err := Render(f)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, w := range f.Warnings {
				got.WriteString("# warning: " + w + "\n")
			}
			got.Write(out)
			golden.Check(t, goldenName(path), got.String())
			checkRoundTrip(t, f, out)
		})
	}
}

// checkRoundTrip parses rendered output and compares it with f.
func checkRoundTrip(t testing.TB, f *File, rendered []byte) {
	t.Helper()
	g, err := Parse("rendered.yml", rendered, LoadOptions{})
	if err != nil {
		t.Fatalf("rendered file does not load: %v\n%s", err, rendered)
	}
	if diff := cmp.Diff(f, g, fileCmpOptions...); diff != "" {
		t.Fatalf("render then load changed the file (-loaded +reloaded):\n%s\nrendered:\n%s", diff, rendered)
	}
}

// fileCmpOptions compare Files without positions, paths and the warning
// about --set naming an undeclared var, which rendering makes declared.
var fileCmpOptions = []cmp.Option{
	cmpopts.IgnoreTypes(Pos{}),
	cmpopts.IgnoreFields(File{}, "Path"),
	cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".Warnings"
	}, cmp.Transformer("dropSetWarnings", func(ws []string) []string {
		var out []string
		for _, w := range ws {
			if !strings.HasPrefix(w, "--set ") {
				out = append(out, w)
			}
		}
		return out
	})),
}
