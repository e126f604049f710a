package templates

import (
	"slices"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	want := []string{"go", "java", "node", "static"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	for _, tm := range List() {
		if tm.DefaultBase == "" {
			t.Errorf("%s: no default base", tm.Name)
		}
	}
	for name := range defaultBases {
		if _, ok := Get(name); !ok {
			t.Errorf("default base for %s, which has no template file", name)
		}
	}
	for _, bad := range []string{"", "nope", "../templates/go", "*"} {
		if _, ok := Get(bad); ok {
			t.Errorf("Get(%q) found a template", bad)
		}
	}
}

// TestThreeLines checks each template renders, with the default base, to a
// FROM, how it starts, and what it copies in, last: metadata before the copy
// stays in the engine's cache, so a rebuild only copies. Comments and a
// WORKDIR may come along.
func TestThreeLines(t *testing.T) {
	for _, tm := range List() {
		t.Run(tm.Name, func(t *testing.T) {
			df, err := tm.Render(Data{Port: 8080, Artifact: "app", Main: "index.js"})
			if err != nil {
				t.Fatal(err)
			}
			var instr []string
			for _, l := range strings.Split(strings.TrimSpace(df), "\n") {
				if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "WORKDIR ") {
					continue
				}
				instr = append(instr, strings.Fields(l)[0])
			}
			if len(instr) != 3 || instr[0] != "FROM" || (instr[1] != "CMD" && instr[1] != "ENTRYPOINT") ||
				(instr[2] != "COPY" && instr[2] != "ADD") {
				t.Errorf("instructions %q:\n%s", instr, df)
			}
			if !strings.HasPrefix(strings.SplitN(df, "FROM ", 2)[1], tm.DefaultBase+"\n") {
				t.Errorf("not FROM the default base %s:\n%s", tm.DefaultBase, df)
			}
		})
	}
}

func TestRender(t *testing.T) {
	node, _ := Get("node")
	df, err := node.Render(Data{Base: "node:22", Artifact: "app", Main: `we"ird.js`})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(df, "FROM node:22\n") || !strings.Contains(df, `CMD ["node", "we\"ird.js"]`) {
		t.Errorf("node:\n%s", df)
	}
	for _, base := range []string{"a b", "x\nRUN evil"} {
		if _, err := node.Render(Data{Base: base}); err == nil {
			t.Errorf("base %q: no error", base)
		}
	}
}
