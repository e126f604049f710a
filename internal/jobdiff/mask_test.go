package jobdiff

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cjob/cjob/prodspec"
	"github.com/google/go-cmp/cmp"
)

func TestMaskRendered(t *testing.T) {
	out, err := MaskRendered("jobs.yml", []byte(baseFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(out), s) {
			t.Errorf("secret %q in the masked file:\n%s", s, out)
		}
	}
	masked := parse(t, string(out))
	orig := parse(t, baseFile)

	// Secrets are masked...
	api, sender := masked.Job("coding-core.api"), masked.Job("coding-mail.sender")
	for _, c := range []struct{ got, want string }{
		{api.Env["DB_PASSWORD"], Masked},
		{api.Env["DATABASE_URL"], "postgres://api:********@core-db-1:5432/api?sslmode=disable"},
		{api.Tasks[1].Env["SHARD_TOKEN"], Masked},
		{masked.Job("coding-core.db").Env["POSTGRES_PASSWORD"], Masked},
		{sender.Env["STRIPE_KEY"], Masked},
		{sender.Command[2], Masked},
		{masked.Environments["dev"].Jobs["coding-core.api"].Env["API_KEY"], Masked},
		{masked.Vars["db_password"], Masked},
	} {
		if c.got != c.want {
			t.Errorf("masked value %q, want %q", c.got, c.want)
		}
	}

	// ...and everything else is as Render writes the unmasked file.
	want := orig.Clone()
	setAll := func(m map[string]string, keys ...string) {
		for _, k := range keys {
			m[k] = Masked
		}
	}
	wapi := want.Job("coding-core.api")
	setAll(wapi.Env, "DB_PASSWORD")
	wapi.Env["DATABASE_URL"] = "postgres://api:********@core-db-1:5432/api?sslmode=disable"
	setAll(wapi.Tasks[1].Env, "SHARD_TOKEN")
	setAll(want.Job("coding-core.db").Env, "POSTGRES_PASSWORD")
	setAll(want.Job("coding-mail.sender").Env, "STRIPE_KEY")
	want.Job("coding-mail.sender").Command[2] = Masked
	setAll(want.Environments["dev"].Jobs["coding-core.api"].Env, "API_KEY")
	setAll(want.Vars, "db_password")
	wantOut, err := prodspec.Render(want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(wantOut), string(out)); diff != "" {
		t.Errorf("masked file (-want +got):\n%s", diff)
	}

	// Masking is idempotent, and leaves the unmasked file alone.
	again, err := MaskRendered("jobs.yml", out)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(out) {
		t.Errorf("masking twice differs:\n%s", cmp.Diff(string(out), string(again)))
	}
	if orig2 := parse(t, baseFile); MaskFile(orig2) == orig2 || orig2.Job("coding-core.api").Env["DB_PASSWORD"] != "pg-Secret-1" {
		t.Error("MaskFile changed its argument")
	}
	if MaskFile(nil) != nil {
		t.Error("MaskFile(nil) != nil")
	}
	if _, err := MaskRendered("jobs.yml", []byte("project: [")); err == nil {
		t.Error("MaskRendered of a bad file: no error")
	}
}

func TestMaskFileHostsAndHealth(t *testing.T) {
	f := parse(t, `project: coding
hosts:
  h: {docker: "tcp://admin:engine-Secret@10.0.0.1:2376", labels: {vault_token: label-Secret, role: db}}
services:
  s:
    jobs:
      j:
        image: x:1
        entrypoint: [/entry, --api-key=entry-Secret]
        health: {cmd: [/check, --password, check-Secret]}
        run_on_host: h
`)
	out, err := prodspec.Render(MaskFile(f))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"engine-Secret", "label-Secret", "entry-Secret", "check-Secret"} {
		if strings.Contains(string(out), s) {
			t.Errorf("secret %q in the masked file:\n%s", s, out)
		}
	}
	m := parse(t, string(out))
	if got := m.Hosts[0].Docker; got != "tcp://admin:********@10.0.0.1:2376" {
		t.Errorf("docker = %q", got)
	}
	if got := m.Hosts[0].Labels; got["role"] != "db" || got["vault_token"] != Masked {
		t.Errorf("labels = %q", got)
	}
}

func TestJobHash(t *testing.T) {
	f := parse(t, baseFile)
	api := f.Job("coding-core.api")
	h := JobHash(api)
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 {
		t.Fatalf("JobHash = %q", h)
	}
	// Stable: the same job parsed again, or rendered and parsed back,
	// hashes the same; positions do not count.
	data, err := prodspec.Render(f)
	if err != nil {
		t.Fatal(err)
	}
	back := parse(t, "# moved down\n\n"+string(data))
	if got := JobHash(back.Job("coding-core.api")); got != h {
		t.Errorf("hash after Render and Parse = %s, want %s", got, h)
	}
	if got := JobHashes(f)["coding-core.api"]; got != h {
		t.Errorf("JobHashes = %s, want %s", got, h)
	}
	if len(JobHashes(f)) != 4 || len(JobHashes(nil)) != 0 || JobHash(nil) != "" {
		t.Error("JobHashes: wrong size, or nil handling")
	}
	// Every field counts, secrets included, unmasked.
	changes := map[string]func(j *prodspec.Job){
		"name":          func(j *prodspec.Job) { j.Name = "api2" },
		"service":       func(j *prodspec.Job) { j.Service = "other" },
		"image":         func(j *prodspec.Job) { j.Image += "x" },
		"command":       func(j *prodspec.Job) { j.Command = append(j.Command, "-v") },
		"command nil":   func(j *prodspec.Job) { j.Command = nil },
		"entrypoint":    func(j *prodspec.Job) { j.Entrypoint = []string{"/e"} },
		"ports":         func(j *prodspec.Job) { j.Ports = []int{8081} },
		"secret":        func(j *prodspec.Job) { j.Env["DB_PASSWORD"] = "other" },
		"env key":       func(j *prodspec.Job) { j.Env["NEW"] = "" },
		"volumes":       func(j *prodspec.Job) { j.Volumes = []prodspec.Volume{{Source: "v", Target: "/v"}} },
		"memory":        func(j *prodspec.Job) { j.Memory = 0 },
		"depends_on":    func(j *prodspec.Job) { j.DependsOn = nil },
		"health":        func(j *prodspec.Job) { j.Health.Retries++ },
		"health start":  func(j *prodspec.Job) { j.Health.StartPeriod = 1 },
		"health gone":   func(j *prodspec.Job) { j.Health = nil },
		"critical":      func(j *prodspec.Job) { j.Critical = false },
		"oneshot":       func(j *prodspec.Job) { j.Oneshot = true },
		"task host":     func(j *prodspec.Job) { j.Tasks[0].Host = "core-db-1" },
		"task order":    func(j *prodspec.Job) { j.Tasks[0], j.Tasks[1] = j.Tasks[1], j.Tasks[0] },
		"task secret":   func(j *prodspec.Job) { j.Tasks[1].Env["SHARD_TOKEN"] = "other" },
		"task dropped":  func(j *prodspec.Job) { j.Tasks = j.Tasks[:1] },
		"volume ro":     func(j *prodspec.Job) { j.Volumes = []prodspec.Volume{{Source: "v", Target: "/v", ReadOnly: true}} },
		"health cmd":    func(j *prodspec.Job) { j.Health.HTTP, j.Health.Cmd = "", []string{"/check"} },
		"health timing": func(j *prodspec.Job) { j.Health.Interval++ },
	}
	seen := map[string]string{h: "original"}
	for name, change := range changes {
		j := api.Clone()
		change(j)
		got := JobHash(j)
		if prev, ok := seen[got]; ok {
			t.Errorf("%s: same hash as %s", name, prev)
		}
		seen[got] = name
	}
	// Positions and task indexes do not count; nil and empty maps alike.
	j := api.Clone()
	j.Pos, j.Tasks[0].Pos, j.Tasks[0].Index = prodspec.Pos{Line: 99}, prodspec.Pos{Line: 98}, 7
	j.Tasks[0].Env = map[string]string{}
	j.Tasks[0].Env["SHARD"] = "1"
	if JobHash(j) != h {
		t.Error("positions or indexes change the hash")
	}
	k := f.Job("coding-mail.sms").Clone()
	before := JobHash(k)
	k.Env = map[string]string{}
	if JobHash(k) != before {
		t.Error("an empty env hashes differently from no env")
	}
}

// TestFieldsCovered fails when prodspec gains a field that jobdiff does not
// know of: each must be compared by the diff (fields.go) and, for jobs,
// hashed (hash.go) and, if it can hold a secret, masked (mask.go). Update
// the lists below once that is done.
func TestFieldsCovered(t *testing.T) {
	for _, tc := range []struct {
		v     any
		known []string
	}{
		{prodspec.File{}, []string{"Path", "Project", "Registry", "DNSSuffix", "Vars", "Hosts", "Services", "Environments", "Warnings"}},
		{prodspec.Host{}, []string{"Name", "Address", "Docker", "TLS", "Memory", "Labels", "Pos"}},
		{prodspec.TLS{}, []string{"CA", "Cert", "Key"}},
		{prodspec.Service{}, []string{"Name", "Jobs", "Pos"}},
		{prodspec.Job{}, []string{"Service", "Name", "Image", "Command", "Entrypoint", "Ports", "Env", "Volumes", "Memory",
			"DependsOn", "Health", "Critical", "Oneshot", "Tasks", "Pos"}},
		{prodspec.Task{}, []string{"Index", "Host", "Env", "Pos"}},
		{prodspec.Volume{}, []string{"Source", "Target", "ReadOnly"}},
		{prodspec.Health{}, []string{"HTTP", "TCP", "Cmd", "Interval", "Timeout", "Retries", "StartPeriod"}},
		{prodspec.Environment{}, []string{"Name", "Exclude", "Jobs", "Pool", "Pin", "ExtraHosts", "Orchestrator", "Pos"}},
		{prodspec.JobPatch{}, []string{"Image", "Command", "Env", "Memory", "Pos"}},
	} {
		typ := reflect.TypeOf(tc.v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !slices.Equal(got, tc.known) {
			t.Errorf("prodspec.%s has fields %q; jobdiff knows %q", typ.Name(), got, tc.known)
		}
	}
}
