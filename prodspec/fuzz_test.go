package prodspec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts,
// and each of its environments applied, renders and loads back equal. The seed corpus is every test file plus
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
			env, _, err := file.ForEnvironment(name)
			if err != nil {
				continue
			}
			out, err := Render(env)
			if err != nil {
				t.Fatalf("render %s: %v", name, err)
			}
			checkRoundTrip(t, env, out)
		}
	})
}

// FuzzRoundTrip puts arbitrary strings into the values of a valid file (an
// env value and key, a label, a command written as a list and as a string,
// a volume, a var), and checks that whatever loads renders and loads back
// equal. It exercises Render's quoting more than FuzzParse can.
func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "KEY", "app", "/blog --port 9090", "/data:/data:ro", "59559fd")
	f.Add("{{ .Vars.tag }}", "K", `{{"{{"}}`, `sh -c 'echo "hi"'`, "name:/x", "{{")
	f.Add("yes", "<<", "- x", "a\\ b", "/a:/b", "1e3")
	f.Add("line\none\n", "~", "\u2028", `"`, "#x:/y", "null")
	f.Fuzz(func(t *testing.T, value, key, label, command, volume, tag string) {
		src := "project: p\n" +
			"vars: {tag: " + quoteYAML(tag) + "}\n" +
			"hosts: {h: {labels: {" + quoteYAML(key) + ": " + quoteYAML(label) + "}}}\n" +
			"services:\n  s:\n    jobs:\n" +
			"      a:\n        image: \"app:{{ .Vars.tag }}\"\n" +
			"        env: {" + quoteYAML(key) + ": " + quoteYAML(value) + "}\n" +
			"        command: " + quoteYAML(command) + "\n" +
			"        volumes: [" + quoteYAML(volume) + "]\n" +
			"        run_on_host: h\n" +
			"      b:\n        image: b\n" +
			"        entrypoint: [" + quoteYAML(value) + ", " + quoteYAML(label) + "]\n" +
			"        tasks: [{host: h, env: {" + quoteYAML(key) + ": " + quoteYAML(command) + "}}]\n"
		file, err := Parse("fuzz.yml", []byte(src), LoadOptions{})
		if err != nil {
			return
		}
		out, err := Render(file)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		checkRoundTrip(t, file, out)
	})
}
