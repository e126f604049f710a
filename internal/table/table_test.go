package table

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		build func() *Table
		want  string
	}{
		{
			name: "basic",
			build: func() *Table {
				t := New("name", "status", "age")
				t.Row("coding-core.api", "running", "3m")
				t.Row("coding-core.db", "exited", "10s")
				return t
			},
			want: "" +
				"NAME             STATUS   AGE\n" +
				"coding-core.api  running  3m\n" +
				"coding-core.db   exited   10s\n",
		},
		{
			name: "empty table renders headers only",
			build: func() *Table {
				return New("Name", "Host")
			},
			want: "NAME  HOST\n",
		},
		{
			name: "no headers",
			build: func() *Table {
				t := New()
				t.Row("a", "bb")
				t.Row("ccc", "d")
				return t
			},
			want: "" +
				"a    bb\n" +
				"ccc  d\n",
		},
		{
			name: "nothing at all",
			build: func() *Table {
				return New()
			},
			want: "",
		},
		{
			name: "no trailing spaces with empty and missing cells",
			build: func() *Table {
				t := New("unit", "state", "note")
				t.Row("a", "", "")
				t.Row("b", "up")
				t.Row("c", "", "x")
				return t
			},
			want: "" +
				"UNIT  STATE  NOTE\n" +
				"a\n" +
				"b     up\n" +
				"c            x\n",
		},
		{
			name: "extra cells beyond headers",
			build: func() *Table {
				t := New("a")
				t.Row("1", "2", "3")
				return t
			},
			want: "" +
				"A\n" +
				"1  2  3\n",
		},
		{
			name: "ansi colors do not count",
			build: func() *Table {
				p := Color(true)
				t := New("unit", "status", "host")
				t.Row("api", p.Green("running"), "h1")
				t.Row("worker", p.Red("exited"), "h2")
				return t
			},
			want: "" +
				"UNIT    STATUS   HOST\n" +
				"api     \x1b[32mrunning\x1b[39m  h1\n" +
				"worker  \x1b[31mexited\x1b[39m   h2\n",
		},
		{
			name: "colored header is upper-cased without breaking escapes",
			build: func() *Table {
				p := Color(true)
				t := New(p.Bold("name"), "x")
				t.Row("abcdef", "1")
				return t
			},
			want: "" +
				"\x1b[1mNAME\x1b[22m    X\n" +
				"abcdef  1\n",
		},
		{
			name: "multi-byte and wide runes",
			build: func() *Table {
				t := New("name", "v")
				t.Row("café", "1")
				t.Row("日本語", "2")
				t.Row("naïve✔", "3")
				return t
			},
			want: "" +
				"NAME    V\n" +
				"café    1\n" +
				"日本語  2\n" +
				"naïve✔  3\n",
		},
		{
			name: "combining marks are zero width",
			build: func() *Table {
				t := New("n", "v")
				t.Row("e\u0301e", "1") // é as e + combining acute
				t.Row("abc", "2")
				return t
			},
			want: "" +
				"N    V\n" +
				"e\u0301e   1\n" +
				"abc  2\n",
		},
		{
			name: "right aligned column",
			build: func() *Table {
				t := New("name", "mem", "cpu").AlignRight(1, 2)
				t.Row("api", "512M", "0.5")
				t.Row("db", "2G", "12.25")
				return t
			},
			want: "" +
				"NAME   MEM    CPU\n" +
				"api   512M    0.5\n" +
				"db      2G  12.25\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.build().Render(&buf); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("Render mismatch (-want +got):\n%s", diff)
			}
			for i, line := range strings.Split(buf.String(), "\n") {
				if strings.HasSuffix(line, " ") {
					t.Errorf("line %d has trailing spaces: %q", i, line)
				}
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderError(t *testing.T) {
	tb := New("a")
	tb.Row("1")
	if err := tb.Render(failWriter{}); err == nil || err.Error() != "disk full" {
		t.Fatalf("Render error = %v, want disk full", err)
	}
}

func TestWidth(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"café", 4},
		{"日本", 4},
		{"한국어", 6},
		{"ｆｕｌｌ", 8},
		{"\x1b[32mok\x1b[39m", 2},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", 4},
		{"✔ ✘ – ⠋", 7},
		{"🚀", 2},
		{"e\u0301", 1},
		{"a\u200db", 2},
		{"tab\there", 7}, // control characters have no width
	}
	for _, tt := range tests {
		if got := Width(tt.s); got != tt.want {
			t.Errorf("Width(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		w    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"hello", 1, "…"},
		{"hello", 0, ""},
		{"日本語", 5, "日本…"},
		{"日本語", 4, "日…"},
		{"\x1b[31mred text\x1b[39m", 4, "\x1b[31mred…\x1b[0m"},
		{"\x1b[31mred\x1b[39m", 3, "\x1b[31mred\x1b[39m"},
	}
	for _, tt := range tests {
		got := Truncate(tt.s, tt.w)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.w, got, tt.want)
		}
		if Width(got) > max(tt.w, 0) {
			t.Errorf("Truncate(%q, %d) is %d wide", tt.s, tt.w, Width(got))
		}
	}
}

func TestStripANSI(t *testing.T) {
	p := Color(true)
	if got := StripANSI(p.Bold(p.Green("ok")) + " done"); got != "ok done" {
		t.Errorf("StripANSI = %q", got)
	}
	if got := StripANSI("plain"); got != "plain" {
		t.Errorf("StripANSI = %q", got)
	}
}

func TestColor(t *testing.T) {
	off := Color(false)
	for name, f := range map[string]func(string) string{
		"Green": off.Green, "Red": off.Red, "Yellow": off.Yellow, "Blue": off.Blue,
		"Cyan": off.Cyan, "Dim": off.Dim, "Bold": off.Bold,
	} {
		if got := f("x"); got != "x" {
			t.Errorf("disabled %s(x) = %q", name, got)
		}
	}
	if off.Enabled {
		t.Error("disabled palette reports Enabled")
	}

	on := Color(true)
	tests := []struct {
		got, want string
	}{
		{on.Green("ok"), "\x1b[32mok\x1b[39m"},
		{on.Red("no"), "\x1b[31mno\x1b[39m"},
		{on.Yellow("w"), "\x1b[33mw\x1b[39m"},
		{on.Blue("b"), "\x1b[34mb\x1b[39m"},
		{on.Cyan("c"), "\x1b[36mc\x1b[39m"},
		{on.Dim("d"), "\x1b[2md\x1b[22m"},
		{on.Bold("B"), "\x1b[1mB\x1b[22m"},
		{on.Bold(on.Red("x")), "\x1b[1m\x1b[31mx\x1b[39m\x1b[22m"},
		{on.Green(""), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
