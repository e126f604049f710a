package prodspec

import (
	"fmt"
	"strings"
	"testing"
)

// TestDuplicateKeysBigMapping checks duplicate keys in mappings big enough
// to be indexed, and merge keys that make one big.
func TestDuplicateKeysBigMapping(t *testing.T) {
	var b strings.Builder
	b.WriteString("project: p\nx-more: &more {h20: {}, h3: {address: merged}}\nhosts:\n  <<: *more\n")
	for i := range 20 {
		fmt.Fprintf(&b, "  h%d: {}\n", i)
	}
	b.WriteString("  h7: {}\n")
	b.WriteString("services: {s: {jobs: {j: {image: j, run_on_host: h20}}}}\n")
	_, err := Parse("big.yml", []byte(b.String()), LoadOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	const want = "big.yml:25:3: hosts.h7: duplicate key \"h7\" (first defined at line 12)\n"
	if got := err.(ErrorList).Format(); got != want {
		t.Errorf("got  %swant %s", got, want)
	}
	// Without the first h7: merged h20 and h3 (which the mapping's own h3
	// overrides) make 21 hosts.
	src := strings.Replace(b.String(), "  h7: {}\n  h8", "  h8", 1)
	f, err := Parse("big.yml", []byte(src), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != 21 || f.Host("h3").Address != "" || f.Host("h20") == nil {
		t.Errorf("hosts: %d, h3 %+v, h20 %+v", len(f.Hosts), f.Host("h3"), f.Host("h20"))
	}
}
