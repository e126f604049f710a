package prodspec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// renders, loads back equal, and has environments that apply without
// panicking. The seed corpus is every test file plus
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/errors", "testdata/legacy"} {
		for _, pattern := range []string{"*.yml", "*.pb.txt"} {
			files, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, file := range files {
				data, err := os.ReadFile(file)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yml", data, LoadOptions{})
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			return
		}
		out, err := Render(file)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		checkRoundTrip(t, file, out)
		for name := range file.Environments {
			file.ForEnvironment(name)
		}
	})
}
