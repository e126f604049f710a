package prodspec

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSlowCorpus(t *testing.T) {
	dir := os.Getenv("CORPUS")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.SplitN(string(b), "\n", 2)
		s := strings.TrimSpace(lines[1])
		s = strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")")
		data, err := strconv.Unquote(s)
		if err != nil {
			t.Log(f, err)
			continue
		}
		start := time.Now()
		file, err := Parse("fuzz.yml", []byte(data), LoadOptions{})
		if err == nil {
			out, _ := Render(file)
			checkRoundTrip(t, file, out)
		}
		if d := time.Since(start); d > 20*time.Millisecond {
			t.Logf("%s: %v (%d bytes)", f, d, len(data))
		}
	}
}
