package jobdiff

import (
	"testing"

	"github.com/cjob/cjob/prodspec"
	"github.com/google/go-cmp/cmp"
)

// pushed is what the server gives a client for a pushed file: the file
// masked, and the hashes of its unmasked jobs.
func pushed(t *testing.T, src string) (*prodspec.File, map[string]string) {
	t.Helper()
	masked, err := MaskRendered("jobs.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, string(masked)), JobHashes(parse(t, src))
}

// apiHidden are the fields of coding-core.api in baseFile that hide a
// secret, as FilesAgainstHashes reports them when one of them changed.
var apiHidden = []Field{
	{"env.DATABASE_URL", "postgres://api:********@core-db-1:5432/api?sslmode=disable", "postgres://api:********@core-db-1:5432/api?sslmode=disable"},
	{"env.DB_PASSWORD", Masked, Masked},
	{"task[2].env.SHARD_TOKEN", Masked, Masked},
}

func TestFilesAgainstHashes(t *testing.T) {
	remote, hashes := pushed(t, baseFile)
	for _, tc := range []struct {
		name string
		edit []string
		want []Job
	}{
		{"identical", nil, []Job{}},
		{"secret only", []string{`DB_PASSWORD: "{{ .Vars.db_password }}"`, `DB_PASSWORD: "pg-Secret-NEW"`},
			[]Job{{Job: "coding-core.api", Change: Changed, Secret: true, Fields: apiHidden}}},
		{"secret in URL only", []string{"postgres://api:{{ .Vars.db_password }}@", "postgres://api:pg-Secret-NEW@"},
			[]Job{{Job: "coding-core.api", Change: Changed, Secret: true, Fields: apiHidden}}},
		{"secret in command only", []string{`"smtp-Secret-3"`, `"smtp-Secret-NEW"`},
			[]Job{{Job: "coding-mail.sender", Change: Changed, Secret: true, Fields: []Field{
				{"command", "/mail --smtp-password ******** --from noreply@coding.local", "/mail --smtp-password ******** --from noreply@coding.local"},
				{"env.STRIPE_KEY", Masked, Masked},
			}}}},
		{"visible only", []string{"LOG_LEVEL: info", "LOG_LEVEL: debug"},
			[]Job{{Job: "coding-core.api", Change: Changed, Fields: []Field{{"env.LOG_LEVEL", "info", "debug"}}}}},
		{"visible change of a masked value", []string{"@core-db-1:5432/api", "@core-db-2:5432/api"},
			[]Job{{Job: "coding-core.api", Change: Changed, Fields: []Field{
				{"env.DATABASE_URL", "postgres://api:********@core-db-1:5432/api?sslmode=disable", "postgres://api:********@core-db-2:5432/api?sslmode=disable"},
			}}}},
		{"visible and secret", []string{"LOG_LEVEL: info", "LOG_LEVEL: debug", `SHARD_TOKEN: "shard-Token-2"`, `SHARD_TOKEN: "shard-Token-NEW"`},
			[]Job{{Job: "coding-core.api", Change: Changed, Secret: true, Fields: []Field{
				apiHidden[0], apiHidden[1], {"env.LOG_LEVEL", "info", "debug"}, apiHidden[2],
			}}}},
		{"visible and secret in one value", []string{"postgres://api:{{ .Vars.db_password }}@core-db-1", "postgres://api:pg-Secret-NEW@core-db-2"},
			[]Job{{Job: "coding-core.api", Change: Changed, Secret: true, Fields: []Field{
				{"env.DATABASE_URL", "postgres://api:********@core-db-1:5432/api?sslmode=disable", "postgres://api:********@core-db-2:5432/api?sslmode=disable"},
				apiHidden[1], apiHidden[2],
			}}}},
		{"secret added", []string{"LOG_LEVEL: info", "LOG_LEVEL: info\n          SESSION_SECRET: new-Secret-X"},
			[]Job{{Job: "coding-core.api", Change: Changed, Secret: true, Fields: []Field{{"env.SESSION_SECRET", "", Masked}}}}},
		{"secret removed", []string{`STRIPE_KEY: "sk_live_Stripe4"`, "STRIPE: none"},
			[]Job{{Job: "coding-mail.sender", Change: Changed, Secret: true, Fields: []Field{{"env.STRIPE", "", "none"}, {"env.STRIPE_KEY", Masked, ""}}}}},
		{"password added to a URL", []string{"LOG_LEVEL: info", "LOG_LEVEL: amqp://u:mq-Secret@mq/"},
			[]Job{{Job: "coding-core.api", Change: Changed, Secret: true, Fields: []Field{{"env.LOG_LEVEL", "info", "amqp://u:********@mq/"}}}}},
		{"job added", []string{"  coding-mail:\n    jobs:\n", "  coding-mail:\n    jobs:\n      push: {image: p:1, env: {FCM_KEY: fcm-Secret}, run_on_host: core-app-1}\n"},
			[]Job{{Job: "coding-mail.push", Change: Added}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := edit(t, tc.edit...)
			d := FilesAgainstHashes(remote, hashes, local)
			if diff := cmp.Diff(tc.want, d.Jobs); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
			}
			if len(d.Hosts) != 0 || len(d.Other) != 0 {
				t.Errorf("unexpected host or file changes:\n%s", d)
			}
			if tc.edit == nil && !d.Empty() {
				t.Errorf("identical files: not Empty():\n%s", d)
			}
			noSecrets(t, d, append(secrets, "pg-Secret-NEW", "smtp-Secret-NEW", "shard-Token-NEW", "new-Secret-X", "fcm-Secret", "mq-Secret")...)
		})
	}
}

func TestFilesAgainstHashesNoHashes(t *testing.T) {
	// Without hashes (an older server), only masked fields are compared:
	// a secret-only change is invisible, nothing else is reported.
	remote, _ := pushed(t, baseFile)
	local := edit(t, `DB_PASSWORD: "{{ .Vars.db_password }}"`, `DB_PASSWORD: "pg-Secret-NEW"`)
	if d := FilesAgainstHashes(remote, nil, local); !d.Empty() {
		t.Errorf("without hashes: not Empty():\n%s", d)
	}
	// Files against hashes of the identical file is empty even with an
	// env patch and vars holding secrets.
	remote, hashes := pushed(t, baseFile)
	if d := FilesAgainstHashes(remote, hashes, parse(t, baseFile)); !d.Empty() {
		t.Errorf("identical: not Empty():\n%s", d)
	}
}
