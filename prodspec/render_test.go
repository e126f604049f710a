package prodspec

import (
	"math/rand/v2"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestIsPlain checks that every string isPlain accepts reads back as itself
// from a plain scalar, in block and in flow context, and that quoteYAML
// always reads back.
func TestIsPlain(t *testing.T) {
	const alphabet = "aZ09-_./:=@+ y#?,[]{}\\\"'\t\nē~!&*|>%`<"
	r := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		t.Helper()
		var docs []string
		if isPlain(s) {
			docs = append(docs, "k: "+s+"\n", "k: ["+s+"]\n", "k: {a: "+s+"}\n", s+": v\n")
		}
		q := quoteYAML(s)
		docs = append(docs, "k: "+q+"\n", "k: ["+q+"]\n", q+": v\n")
		for _, doc := range docs {
			var v map[string]any
			if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
				t.Errorf("%q: %v", doc, err)
				continue
			}
			var got any
			if k, ok := v["k"]; ok {
				got = k
			} else {
				for k := range v {
					got = k
				}
			}
			switch g := got.(type) {
			case []any:
				got = g[0]
			case map[string]any:
				got = g["a"]
			}
			if got != s {
				t.Errorf("%q read back as %#v, want %q", doc, got, s)
			}
		}
	}
	for _, s := range []string{"-", "--", "---", "--port", "-1", "-.5", ".", "..", ".5", ".inf", "a:", "a:b", "a::b",
		"http://x", "a?b", "null", "Null", "~", "true", "y", "No", "0x1F", "1e3", "2001-12-14", "<<", "=", "a=b", "@x", "x@y",
		"+1", "a+b", "/data:/x:ro", "_x", "-x-", "a b", " a", "a ", "\u2028", "\u0085", "\x7f", "\ufeff", "é"} {
		check(s)
	}
	for range 20000 {
		n := 1 + r.IntN(6)
		b := make([]rune, n)
		runes := []rune(alphabet)
		for i := range b {
			b[i] = runes[r.IntN(len(runes))]
		}
		check(string(b))
	}
}
