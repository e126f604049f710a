package prodspec

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"512MiB", 512 * MiB}, {"1GiB", GiB}, {"32GiB", 32 * GiB}, {"512M", 512 * MiB}, {"1G", GiB},
		{"100k", 100 * KiB}, {"100KB", 100 * KiB}, {"1024", 1024}, {"0", 0}, {"1.5g", GiB + GiB/2},
		{"256Mi", 256 * MiB}, {"2 tib", 2 * TiB}, {"1p", PiB}, {"7b", 7}, {" 3MB ", 3 * MiB},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if back, err := ParseSize(FormatSize(got)); err != nil || back != got {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", got, back, err)
		}
	}
	for _, in := range []string{"", "lots", "-1G", "1.2.3G", "1XB", "1ib", ".5G", "5.G", "99999999999P", "1e9"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{0: "0", 1: "1", 1023: "1023", KiB: "1KiB", 1536 * KiB: "1536KiB", 3 * GiB: "3GiB", TiB + MiB: "1048577MiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"/blog --port 9090", []string{"/blog", "--port", "9090"}},
		{"  a\tb\n c  ", []string{"a", "b", "c"}},
		{`sh -c 'echo "hi there"'`, []string{"sh", "-c", `echo "hi there"`}},
		{`a "b \"c\" \\ d" e`, []string{"a", `b "c" \ d`, "e"}},
		{`a "" ''`, []string{"a", "", ""}},
		{`x\ y a'b'"c"`, []string{"x y", "abc"}},
		{`"\n"`, []string{`\n`}},
		{"", nil},
	} {
		got, err := SplitWords(tc.in)
		if err != nil {
			t.Errorf("SplitWords(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("SplitWords(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, in := range []string{`'a`, `"a`, `a\`, `"a\"`} {
		if got, err := SplitWords(in); err == nil {
			t.Errorf("SplitWords(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseVolume(t *testing.T) {
	for in, want := range map[string]Volume{
		"/data/blog:/var/lib/blog":         {Source: "/data/blog", Target: "/var/lib/blog"},
		"/etc/localtime:/etc/localtime:ro": {Source: "/etc/localtime", Target: "/etc/localtime", ReadOnly: true},
		"blogdata:/var/lib/blog:rw":        {Source: "blogdata", Target: "/var/lib/blog"},
		"my_vol.1:/x":                      {Source: "my_vol.1", Target: "/x"},
	} {
		got, err := ParseVolume(in)
		if err != nil || got != want {
			t.Errorf("ParseVolume(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, _ := ParseVolume(got.String()); back != got {
			t.Errorf("ParseVolume(%q.String()) = %+v", in, back)
		}
	}
	for _, in := range []string{"/a", "./a:/b", "a:b", "/a:/b:x", "/a:/b:ro:z", ":/b", "-a:/b"} {
		if got, err := ParseVolume(in); err == nil {
			t.Errorf("ParseVolume(%q) = %+v, want an error", in, got)
		}
	}
	for _, in := range []string{`C:\src\api:/src`, "c:/data:/data:ro"} {
		if _, err := ParseVolume(in); err == nil || !strings.Contains(err.Error(), "Windows path") {
			t.Errorf("ParseVolume(%q) = %v, want an error naming the Windows path", in, err)
		}
	}
}

func TestImages(t *testing.T) {
	for _, tc := range []struct{ registry, image, want string }{
		{"docker-registry:5000", "coding-blog:59559fd", "docker-registry:5000/coding-blog:59559fd"},
		{"docker-registry:5000", "team/app:1", "docker-registry:5000/team/app:1"},
		{"docker-registry:5000", "quay.io/team/app", "quay.io/team/app"},
		{"docker-registry:5000", "localhost/app", "localhost/app"},
		{"docker-registry:5000", "localhost:5000/app", "localhost:5000/app"},
		{"docker-registry:5000", "docker-registry:5000/app", "docker-registry:5000/app"},
		{"", "coding-blog:59559fd", "coding-blog:59559fd"},
		{"reg.example.com/team", "app@sha256:0123456789abcdef0123456789abcdef", "reg.example.com/team/app@sha256:0123456789abcdef0123456789abcdef"},
	} {
		got := withRegistry(tc.registry, tc.image)
		if got != tc.want {
			t.Errorf("withRegistry(%q, %q) = %q, want %q", tc.registry, tc.image, got, tc.want)
		}
		if err := checkImage(got); err != nil {
			t.Errorf("checkImage(%q): %v", got, err)
		}
	}
	for _, bad := range []string{"", "App", "a b", "a:", "a:-x", "a@sha256:12", "a//b", "-a", "a/B/c", "reg:port/a"} {
		if err := checkImage(bad); err == nil {
			t.Errorf("checkImage(%q) = nil, want an error", bad)
		}
	}
	for _, r := range []string{"docker-registry:5000", "localhost", "reg.example.com/team/sub", "10.0.0.1:5000"} {
		if err := checkRegistry(r); err != nil {
			t.Errorf("checkRegistry(%q): %v", r, err)
		}
	}
	for _, r := range []string{"registry", "registry/team", "reg.example.com/Team", "a:b"} {
		if err := checkRegistry(r); err == nil {
			t.Errorf("checkRegistry(%q) = nil, want an error", r)
		}
	}
}

func TestIsLegacy(t *testing.T) {
	for _, tc := range []struct {
		path, data string
		want       bool
	}{
		{"jobs.yml", "jobs: <\n  name: \"a\"\n>\n", true},
		{"jobs", "# comment\n\n  jobs {\n", true},
		{"jobs", "jobs <", true},
		{"x.pb.txt", "", true},
		{"x.textproto", "project: x", true},
		{"x.prototxt", "", true},
		{"jobs.yml", "project: coding\njobs: <\n", false},
		{"jobs.yml", "jobs:\n  - a\n", false},
		{"jobs.yml", "", false},
	} {
		if got := IsLegacy(tc.path, []byte(tc.data)); got != tc.want {
			t.Errorf("IsLegacy(%q, %q) = %v, want %v", tc.path, tc.data, got, tc.want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "jobs.yml", Line: 31, Column: 9, Path: "services.coding-blog.jobs.blog.depends_on[0]",
		Msg: `unknown job "cache.redsi"`, Hint: `did you mean "cache.redis"?`}
	const want = `jobs.yml:31:9: services.coding-blog.jobs.blog.depends_on[0]: unknown job "cache.redsi" (did you mean "cache.redis"?)`
	if got := e.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Msg: "m"}, "f: m"},
		{Error{File: "f", Line: 3, Msg: "m"}, "f:3: m"},
		{Error{Line: 3, Column: 4, Msg: "m"}, "3:4: m"},
		{Error{Msg: "m", Path: "p"}, "p: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
	l := ErrorList{
		{File: "f", Line: 2, Column: 1, Msg: "b"},
		{File: "f", Line: 1, Column: 5, Msg: "a"},
		{File: "f", Line: 2, Column: 1, Msg: "b"},
	}
	l.Sort()
	if got, want := l.Format(), "f:1:5: a\nf:2:1: b\n"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	if got, want := l.Error(), "f:1:5: a (and 1 more errors)"; got != want {
		t.Errorf("Error = %q, want %q", got, want)
	}
	if (ErrorList{}).Err() != nil {
		t.Error("empty ErrorList.Err() != nil")
	}
	var target *Error
	if !errors.As(l.Err(), &target) || target.Msg != "a" {
		t.Errorf("errors.As found %v", target)
	}
}

func TestSetOverridesVars(t *testing.T) {
	src := "project: coding\nvars: {tag: v1}\nhosts: {h: {}}\nservices:\n  s:\n    jobs:\n      j: {image: \"app:{{ .Vars.tag }}{{ .Vars.extra }}\", run_on_host: h}\n"
	f := mustParse(t, src, LoadOptions{Set: map[string]string{"tag": "v2", "extra": "-x"}})
	if got := f.Job("s.j").Image; got != "app:v2-x" {
		t.Errorf("image = %q, want app:v2-x", got)
	}
	want := []string{`--set extra: the file declares no var "extra"`}
	if diff := cmp.Diff(want, f.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"tag": "v2", "extra": "-x"}, f.Vars); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
}

func TestLegacySample(t *testing.T) {
	f, err := Load("testdata/legacy/jobs.pb.txt", LoadOptions{Project: "coding"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Project != "coding" {
		t.Errorf("project = %q", f.Project)
	}
	j := f.Job("webhook-listener.webhook-listener")
	if j == nil {
		t.Fatalf("no webhook-listener job in %v", f.Jobs())
	}
	if j.MainPort() != 9999 || j.Env["http_port"] != "8990" || j.Tasks[0].Host != "git-app-1" || j.Image != "webhook-listener:a5af2f2" {
		t.Errorf("webhook-listener = %+v", j)
	}
	var hosts []string
	for _, h := range f.Hosts {
		hosts = append(hosts, h.Name)
	}
	if diff := cmp.Diff([]string{"core-app-2", "git-app-1", "mon"}, hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "port 9999") {
		t.Errorf("warnings = %q, want one about port 9999", f.Warnings)
	}
	for path, want := range map[string]string{
		"/srv/Coding Jobs/jobs.pb.txt": "coding-jobs",
		"/srv/__/jobs.pb.txt":          "coding",
		"/jobs.pb.txt":                 "coding",
		"/srv/prod.2024/x.pb.txt":      "prod-2024",
	} {
		if got := legacyProject(path); got != want {
			t.Errorf("legacyProject(%q) = %q, want %q", path, got, want)
		}
	}
}
