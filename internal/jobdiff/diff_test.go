package jobdiff

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cjob/cjob/prodspec"
	"github.com/google/go-cmp/cmp"
)

// baseFile is a realistic jobs file: two services, secrets in env (by key,
// in a URL, in a task's env and in an environment patch) and in a command.
const baseFile = `project: coding
registry: docker-registry:5000
vars: {tag: 1.0.0, db_password: "pg-Secret-1"}
hosts:
  core-app-1: {address: 10.0.2.11, docker: "tcp://10.0.2.11:2376", memory: 32GiB, labels: {role: app}}
  core-app-2: {address: 10.0.2.12, docker: "tcp://10.0.2.12:2376", memory: 32GiB}
  core-db-1: {address: 10.0.3.11}
services:
  coding-core:
    jobs:
      api:
        image: coding/api:{{ .Vars.tag }}
        command: ["/api", "--port", "8080"]
        port: 8080
        env:
          DB_HOST: core-db-1
          DB_PASSWORD: "{{ .Vars.db_password }}"
          DATABASE_URL: "postgres://api:{{ .Vars.db_password }}@core-db-1:5432/api?sslmode=disable"
          LOG_LEVEL: info
        memory: 512MiB
        depends_on: [coding-core.db]
        health: {http: /healthz, interval: 5s}
        critical: true
        tasks:
          - {host: core-app-1, env: {SHARD: "1"}}
          - {host: core-app-2, env: {SHARD: "2", SHARD_TOKEN: "shard-Token-2"}}
      db:
        image: postgres:16
        port: 5432
        env: {POSTGRES_PASSWORD: "{{ .Vars.db_password }}", POSTGRES_USER: api}
        volumes: ["/data/pg:/var/lib/postgresql/data"]
        run_on_host: core-db-1
  coding-mail:
    jobs:
      sender:
        image: coding/mail:{{ .Vars.tag }}
        command: ["/mail", "--smtp-password", "smtp-Secret-3", "--from", "noreply@coding.local"]
        env: {SMTP_HOST: smtp.example.com, STRIPE_KEY: "sk_live_Stripe4"}
        run_on_host: core-app-2
      sms:
        image: coding/sms:{{ .Vars.tag }}
        oneshot: true
        run_on_host: core-app-1
environments:
  dev:
    exclude: [coding-mail.sms]
    jobs: {coding-core.api: {env: {DEBUG: "1", API_KEY: "dev-Key-5"}}}
`

// secrets are every secret of baseFile; none may show in a masked output.
var secrets = []string{"pg-Secret-1", "shard-Token-2", "smtp-Secret-3", "sk_live_Stripe4", "dev-Key-5"}

// parse parses a jobs file, failing the test on error.
func parse(t *testing.T, src string) *prodspec.File {
	t.Helper()
	f, err := prodspec.Parse("jobs.yml", []byte(src), prodspec.LoadOptions{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return f
}

// edit parses baseFile with the replacements old, new, ... applied.
func edit(t *testing.T, oldnew ...string) *prodspec.File {
	t.Helper()
	src := baseFile
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(src, oldnew[i]) {
			t.Fatalf("baseFile has no %q", oldnew[i])
		}
		src = strings.Replace(src, oldnew[i], oldnew[i+1], 1)
	}
	return parse(t, src)
}

// noSecrets fails the test when any secret shows in d, as JSON or text.
func noSecrets(t *testing.T, d Diff, secrets ...string) {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(data), s) {
			t.Errorf("secret %q in JSON: %s", s, data)
		}
		if strings.Contains(d.String(), s) {
			t.Errorf("secret %q in String():\n%s", s, d)
		}
	}
}

// only returns the one job of d, failing the test if there is not exactly one.
func only(t *testing.T, d Diff) Job {
	t.Helper()
	if len(d.Jobs) != 1 {
		t.Fatalf("want one job changed, got:\n%s", d)
	}
	return d.Jobs[0]
}

func TestFilesIdentical(t *testing.T) {
	a, b := parse(t, baseFile), parse(t, baseFile)
	for name, d := range map[string]Diff{"Files": Files(a, b), "FilesMasked": FilesMasked(a, b)} {
		if !d.Empty() || d.String() != "" || len(d.JobNames()) != 0 {
			t.Errorf("%s of identical files is not empty:\n%s", name, d)
		}
		data, _ := json.Marshal(d)
		if string(data) != `{"jobs":[]}` {
			t.Errorf("%s JSON = %s", name, data)
		}
	}
	if !(Diff{}).Empty() {
		t.Error("zero Diff is not empty")
	}
}

func TestFilesFields(t *testing.T) {
	base := parse(t, baseFile)
	for _, tc := range []struct {
		name   string
		edit   []string
		job    string
		fields []Field
	}{
		{"image", []string{"image: postgres:16", "image: postgres:17"}, "coding-core.db",
			[]Field{{"image", "docker-registry:5000/postgres:16", "docker-registry:5000/postgres:17"}}},
		{"env added", []string{"LOG_LEVEL: info", "LOG_LEVEL: info\n          DEBUG: \"1\""}, "coding-core.api",
			[]Field{{"env.DEBUG", "", "1"}}},
		{"env removed", []string{"\n          LOG_LEVEL: info", ""}, "coding-core.api",
			[]Field{{"env.LOG_LEVEL", "info", ""}}},
		{"env changed", []string{"LOG_LEVEL: info", "LOG_LEVEL: debug"}, "coding-core.api",
			[]Field{{"env.LOG_LEVEL", "info", "debug"}}},
		{"env emptied", []string{"LOG_LEVEL: info", `LOG_LEVEL: ""`}, "coding-core.api",
			[]Field{{"env.LOG_LEVEL", "info", `""`}}},
		{"task moved", []string{"run_on_host: core-db-1", "run_on_host: core-app-1"}, "coding-core.db",
			[]Field{{"tasks", "core-db-1", "core-app-1"}}},
		{"task env", []string{`SHARD: "1"`, `SHARD: "3"`}, "coding-core.api",
			[]Field{{"task[1].env.SHARD", "1", "3"}}},
		{"task added", []string{"run_on_host: core-app-1", "tasks: [{host: core-app-1}, {host: core-app-2, env: {N: x}}]"}, "coding-mail.sms",
			[]Field{{"tasks", "core-app-1", "core-app-1, core-app-2"}, {"task[2].env.N", "", "x"}}},
		{"command", []string{`["/api", "--port", "8080"]`, `["/api", "--port", "8080", "--motd", "hello world"]`}, "coding-core.api",
			[]Field{{"command", "/api --port 8080", "/api --port 8080 --motd 'hello world'"}}},
		{"entrypoint", []string{"image: postgres:16", "image: postgres:16\n        entrypoint: [/init]"}, "coding-core.db",
			[]Field{{"entrypoint", "", "/init"}}},
		{"ports", []string{"port: 5432", "ports: [5432, 9187]"}, "coding-core.db",
			[]Field{{"ports", "5432", "5432, 9187"}}},
		{"volumes", []string{`["/data/pg:/var/lib/postgresql/data"]`, `["/data/pg:/var/lib/postgresql/data:ro", "pgrun:/run"]`}, "coding-core.db",
			[]Field{{"volumes", "/data/pg:/var/lib/postgresql/data", "/data/pg:/var/lib/postgresql/data:ro, pgrun:/run"}}},
		{"memory", []string{"memory: 512MiB", "memory: 1GiB"}, "coding-core.api",
			[]Field{{"memory", "512MiB", "1GiB"}}},
		{"memory removed", []string{"\n        memory: 512MiB", ""}, "coding-core.api",
			[]Field{{"memory", "512MiB", ""}}},
		{"depends_on", []string{"\n        depends_on: [coding-core.db]", ""}, "coding-core.api",
			[]Field{{"depends_on", "coding-core.db", ""}}},
		{"health", []string{"interval: 5s", "interval: 10s, start_period: 30s"}, "coding-core.api",
			[]Field{{"health", "http /healthz every 5s, timeout 2s, 30 retries", "http /healthz every 10s, timeout 2s, 30 retries, start period 30s"}}},
		{"health added", []string{"oneshot: true", "oneshot: true\n        health: {cmd: /bin/check --quick, retries: 3}"}, "coding-mail.sms",
			[]Field{{"health", "", "cmd /bin/check --quick every 2s, timeout 2s, 3 retries"}}},
		{"critical", []string{"\n        critical: true", ""}, "coding-core.api",
			[]Field{{"critical", "true", "false"}}},
		{"oneshot", []string{"oneshot: true", "oneshot: false"}, "coding-mail.sms",
			[]Field{{"oneshot", "true", "false"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Files(base, edit(t, tc.edit...))
			j := only(t, d)
			want := Job{Job: tc.job, Change: Changed, Fields: tc.fields}
			if diff := cmp.Diff(want, j); diff != "" {
				t.Errorf("job diff (-want +got):\n%s", diff)
			}
			if len(d.Hosts) != 0 || len(d.Other) != 0 {
				t.Errorf("unexpected host or file changes:\n%s", d)
			}
		})
	}
}

func TestFilesJobsAddedRemoved(t *testing.T) {
	old := parse(t, baseFile)
	new := edit(t,
		"      sms:\n        image: coding/sms:{{ .Vars.tag }}\n        oneshot: true\n        run_on_host: core-app-1\n",
		"      worker:\n        image: coding/worker:1\n        run_on_host: core-app-1\n",
		"exclude: [coding-mail.sms]", "exclude: [coding-mail.worker]")
	d := Files(old, new)
	want := []Job{{Job: "coding-mail.sms", Change: Removed}, {Job: "coding-mail.worker", Change: Added}}
	if diff := cmp.Diff(want, d.Jobs); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if got := d.JobNames(); !slices.Equal(got, []string{"coding-mail.sms", "coding-mail.worker"}) {
		t.Errorf("JobNames = %q", got)
	}
	if diff := cmp.Diff([]Field{{"environments.dev.exclude", "coding-mail.sms", "coding-mail.worker"}}, d.Other); diff != "" {
		t.Errorf("other (-want +got):\n%s", diff)
	}
}

func TestFilesHosts(t *testing.T) {
	old := parse(t, baseFile)
	new := edit(t,
		"core-app-1: {address: 10.0.2.11,", "core-app-1: {address: 10.0.2.21,",
		"labels: {role: app}", "labels: {role: api, zone: a}",
		"  core-db-1: {address: 10.0.3.11}\n", "  core-app-3: {address: 10.0.2.13, memory: 64GiB}\n  core-db-1: {address: 10.0.3.11}\n  spare: {}\n",
		"core-app-2: {address: 10.0.2.12, docker: \"tcp://10.0.2.12:2376\", memory: 32GiB}", "core-app-2: {address: 10.0.2.12, docker: \"tcp://10.0.2.12:2376\"}",
	)
	d := Files(old, new)
	want := []Field{
		{"hosts.core-app-1.address", "10.0.2.11", "10.0.2.21"},
		{"hosts.core-app-1.labels.role", "app", "api"},
		{"hosts.core-app-1.labels.zone", "", "a"},
		{"hosts.core-app-2.memory", "32GiB", ""},
		{"hosts.core-app-3", "", "address 10.0.2.13, memory 64GiB"},
		{"hosts.spare", "", "{}"},
	}
	if diff := cmp.Diff(want, d.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if len(d.Jobs) != 0 || len(d.Other) != 0 {
		t.Errorf("unexpected job or file changes:\n%s", d)
	}
	if d.Empty() {
		t.Error("Empty() with host changes")
	}
	// A removed host is shown whole.
	d = Files(new, old)
	if got := d.Hosts[len(d.Hosts)-1]; got != (Field{"hosts.spare", "{}", ""}) {
		t.Errorf("removed host: %+v", got)
	}
}

func TestFilesOther(t *testing.T) {
	old := parse(t, baseFile)
	new := edit(t,
		"registry: docker-registry:5000", "registry: registry.example.com/team",
		"project: coding", "project: coding\ndns_suffix: .prod.local",
		"vars: {tag: 1.0.0,", "vars: {tag: 1.0.0, region: eu,",
		"{env: {DEBUG: \"1\",", "{image: \"coding/api:dev\", memory: 1GiB, env: {DEBUG: \"2\",",
		"environments:\n", "environments:\n  staging:\n    pool: [core-app-2]\n  qa: {}\n",
	)
	d := Files(old, new)
	want := []Field{
		{"registry", "docker-registry:5000", "registry.example.com/team"},
		{"dns_suffix", ".coding.local", ".prod.local"},
		{"vars.region", "", "eu"},
		{"environments.dev.jobs.coding-core.api.image", "", "registry.example.com/team/coding/api:dev"},
		{"environments.dev.jobs.coding-core.api.env.DEBUG", "1", "2"},
		{"environments.dev.jobs.coding-core.api.memory", "", "1GiB"},
		{"environments.qa", "", "{}"},
		{"environments.staging.pool", "", "core-app-2"},
	}
	if diff := cmp.Diff(want, d.Other); diff != "" {
		t.Errorf("other (-want +got):\n%s", diff)
	}
	// The registry prefixes every image that names no registry.
	if got := d.JobNames(); !slices.Equal(got, []string{"coding-core.api", "coding-core.db", "coding-mail.sender", "coding-mail.sms"}) {
		t.Errorf("JobNames = %q", got)
	}
}

func TestFilesFromNil(t *testing.T) {
	f := parse(t, baseFile)
	d := Files(nil, f)
	if got := d.JobNames(); !slices.Equal(got, []string{"coding-core.api", "coding-core.db", "coding-mail.sender", "coding-mail.sms"}) {
		t.Errorf("JobNames = %q", got)
	}
	for _, j := range d.Jobs {
		if j.Change != Added || len(j.Fields) != 0 {
			t.Errorf("job %+v, want added without fields", j)
		}
	}
	if len(d.Hosts) != 3 || d.Hosts[0] != (Field{"hosts.core-app-1", "", "address 10.0.2.11, docker tcp://10.0.2.11:2376, memory 32GiB, labels.role app"}) {
		t.Errorf("hosts = %+v", d.Hosts)
	}
	if d.Other[0] != (Field{"project", "", "coding"}) {
		t.Errorf("other = %+v", d.Other)
	}
	// And back: everything removed.
	d = Files(f, nil)
	for _, j := range d.Jobs {
		if j.Change != Removed {
			t.Errorf("job %+v, want removed", j)
		}
	}
	if !Files(nil, nil).Empty() {
		t.Error("Files(nil, nil) is not empty")
	}
}

func TestString(t *testing.T) {
	old := parse(t, `project: coding
hosts:
  core-app-1: {address: 10.0.2.11}
  core-app-2: {}
services:
  coding-core:
    jobs:
      api:
        image: coding/api:1.0.0
        env: {DB_PASSWORD: old-Secret, LOG: info}
        run_on_host: core-app-1
  coding-mail:
    jobs:
      sms: {image: coding/sms:1, run_on_host: core-app-1}
`)
	new := parse(t, `project: coding
registry: docker-registry:5000
hosts:
  core-app-1: {address: 10.0.2.21}
  core-app-2: {}
services:
  coding-core:
    jobs:
      api:
        image: coding/api:1.1.0
        command: [/api, --motd, hello world]
        env: {DB_PASSWORD: new-Secret, DEBUG: "1", LOG: info}
        run_on_host: core-app-2
      worker: {image: coding/worker:1, run_on_host: core-app-2}
`)
	const wantPlain = `~ coding-core.api
    image: coding/api:1.0.0 -> docker-registry:5000/coding/api:1.1.0
    command: (none) -> /api --motd 'hello world'
    env.DB_PASSWORD: old-Secret -> new-Secret
    env.DEBUG: (none) -> 1
    tasks: core-app-1 -> core-app-2
+ coding-core.worker
- coding-mail.sms
~ hosts
    hosts.core-app-1.address: 10.0.2.11 -> 10.0.2.21
~ file
    registry: (none) -> docker-registry:5000
`
	if diff := cmp.Diff(wantPlain, Files(old, new).String()); diff != "" {
		t.Errorf("Files String (-want +got):\n%s", diff)
	}
	const wantMasked = `~ coding-core.api
    image: coding/api:1.0.0 -> docker-registry:5000/coding/api:1.1.0
    command: (none) -> /api --motd 'hello world'
    env.DB_PASSWORD: ******** (hidden value changed)
    env.DEBUG: (none) -> 1
    tasks: core-app-1 -> core-app-2
+ coding-core.worker
- coding-mail.sms
~ hosts
    hosts.core-app-1.address: 10.0.2.11 -> 10.0.2.21
~ file
    registry: (none) -> docker-registry:5000
`
	d := FilesMasked(old, new)
	if diff := cmp.Diff(wantMasked, d.String()); diff != "" {
		t.Errorf("FilesMasked String (-want +got):\n%s", diff)
	}
	noSecrets(t, d, "old-Secret", "new-Secret")
}

func TestFilesMaskedSecretChange(t *testing.T) {
	old := parse(t, baseFile)
	new := edit(t, `DB_PASSWORD: "{{ .Vars.db_password }}"`, `DB_PASSWORD: "pg-Secret-NEW"`)
	d := FilesMasked(old, new)
	want := Job{Job: "coding-core.api", Change: Changed, Secret: true,
		Fields: []Field{{Name: "env.DB_PASSWORD", Old: Masked, New: Masked}}}
	if diff := cmp.Diff(want, only(t, d)); diff != "" {
		t.Errorf("job (-want +got):\n%s", diff)
	}
	noSecrets(t, d, append(secrets, "pg-Secret-NEW")...)

	// Files, for places where secrets may be shown, shows the values.
	if got := only(t, Files(old, new)); got.Secret || got.Fields[0] != (Field{"env.DB_PASSWORD", "pg-Secret-1", "pg-Secret-NEW"}) {
		t.Errorf("Files: %+v", got)
	}
}

func TestFilesMaskedEmbeddedSecrets(t *testing.T) {
	old := parse(t, baseFile)
	for _, tc := range []struct {
		name   string
		edit   []string
		job    string
		secret bool
		fields []Field
	}{
		{"password in URL", []string{"@core-db-1:5432/api", "@core-db-2:5432/api"}, "coding-core.api", false,
			[]Field{{"env.DATABASE_URL", "postgres://api:********@core-db-1:5432/api?sslmode=disable", "postgres://api:********@core-db-2:5432/api?sslmode=disable"}}},
		{"URL password only", []string{"postgres://api:{{ .Vars.db_password }}@", "postgres://api:other-Secret@"}, "coding-core.api", true,
			[]Field{{"env.DATABASE_URL", "postgres://api:********@core-db-1:5432/api?sslmode=disable", "postgres://api:********@core-db-1:5432/api?sslmode=disable"}}},
		{"URL password and host", []string{"postgres://api:{{ .Vars.db_password }}@core-db-1", "postgres://api:other-Secret@core-db-2"}, "coding-core.api", true,
			[]Field{{"env.DATABASE_URL", "postgres://api:********@core-db-1:5432/api?sslmode=disable", "postgres://api:********@core-db-2:5432/api?sslmode=disable"}}},
		{"command secret", []string{`"smtp-Secret-3"`, `"smtp-Secret-NEW"`}, "coding-mail.sender", true,
			[]Field{{"command", "/mail --smtp-password ******** --from noreply@coding.local", "/mail --smtp-password ******** --from noreply@coding.local"}}},
		{"task secret", []string{`"shard-Token-2"`, `"shard-Token-NEW"`}, "coding-core.api", true,
			[]Field{{"task[2].env.SHARD_TOKEN", Masked, Masked}}},
		{"secret added", []string{"LOG_LEVEL: info", "LOG_LEVEL: info\n          SESSION_SECRET: new-Secret-X"}, "coding-core.api", true,
			[]Field{{"env.SESSION_SECRET", "", Masked}}},
		{"secret removed", []string{"STRIPE_KEY: \"sk_live_Stripe4\"", "STRIPE: none"}, "coding-mail.sender", true,
			[]Field{{"env.STRIPE", "", "none"}, {"env.STRIPE_KEY", Masked, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := FilesMasked(old, edit(t, tc.edit...))
			want := Job{Job: tc.job, Change: Changed, Secret: tc.secret, Fields: tc.fields}
			if diff := cmp.Diff(want, only(t, d)); diff != "" {
				t.Errorf("job (-want +got):\n%s", diff)
			}
			noSecrets(t, d, append(secrets, "other-Secret", "smtp-Secret-NEW", "shard-Token-NEW", "new-Secret-X")...)
		})
	}
}

func TestFilesMaskedOtherSecrets(t *testing.T) {
	old := parse(t, baseFile)
	new := edit(t,
		`db_password: "pg-Secret-1"`, `db_password: "pg-Secret-1", db_host: x`,
		`API_KEY: "dev-Key-5"`, `API_KEY: "dev-Key-NEW"`,
		`docker: "tcp://10.0.2.11:2376"`, `docker: "ssh://deploy:ssh-Secret@10.0.2.11"`)
	d := FilesMasked(old, new)
	wantHosts := []Field{{"hosts.core-app-1.docker", "tcp://10.0.2.11:2376", "ssh://deploy:********@10.0.2.11"}}
	if diff := cmp.Diff(wantHosts, d.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	wantOther := []Field{
		{"vars.db_host", "", "x"},
		{"environments.dev.jobs.coding-core.api.env.API_KEY", Masked, Masked},
	}
	if diff := cmp.Diff(wantOther, d.Other); diff != "" {
		t.Errorf("other (-want +got):\n%s", diff)
	}
	noSecrets(t, d, append(secrets, "dev-Key-NEW", "ssh-Secret")...)
	// A var whose name is secret changes every job using it, all masked.
	d = FilesMasked(old, edit(t, `db_password: "pg-Secret-1"`, `db_password: "pg-Secret-2"`))
	if got := d.JobNames(); !slices.Equal(got, []string{"coding-core.api", "coding-core.db"}) {
		t.Errorf("JobNames = %q", got)
	}
	for _, j := range d.Jobs {
		if !j.Secret {
			t.Errorf("%s: Secret not set", j.Job)
		}
	}
	if diff := cmp.Diff([]Field{{"vars.db_password", Masked, Masked}}, d.Other); diff != "" {
		t.Errorf("other (-want +got):\n%s", diff)
	}
	noSecrets(t, d, "pg-Secret-1", "pg-Secret-2")
}
