package jobdiff

import (
	"slices"
	"testing"
)

func TestSecretKey(t *testing.T) {
	secret := []string{
		"AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "GITHUB_TOKEN", "API_KEY", "apiKey", "APIKey", "STRIPE_KEY",
		"SENTRY_DSN", "PASSWORD", "password", "db-password", "db.password", "DBPASSWORD", "MYSQL_PASSWD",
		"SMTP_PASS", "DB_PWD", "CLIENT_SECRET", "clientSecret", "JWT_SECRETS", "ACCESS_TOKEN", "GITHUBTOKEN",
		"STRIPEAPIKEY", "S3_ACCESSKEY", "PRIVATE_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "DOCKER_CREDS",
		"BASIC_AUTH", "Authorization", "KEY2", "API_KEYS", "SSL_KEY", "AZURE_STORAGE_CONNECTION_STRING",
		"DJANGO_SALT", "REQUIREPASS", "MASTERAUTH", "DB_PASSWORD_FILE", "AWS_ACCESS_KEY_ID", "pass_phrase",
		"PASSPHRASE", "encryptionKey", "refresh-tokens",
	}
	notSecret := []string{
		"MONKEY", "KEYBOARD_LAYOUT", "DB_HOST", "DATABASE_URL", "PORT", "PWD", "OLDPWD", "HOME", "PATH",
		"TLS_CERT", "BYPASS_CACHE", "COMPASS", "TOKENIZER_MODEL", "LOG_LEVEL", "", "monkey", "KeyboardLayout",
		"SECRETARY_NAME_X", "PASSENGER_COUNT", "DEBUG",
	}
	for _, k := range secret {
		if !SecretKey(k) {
			t.Errorf("SecretKey(%q) = false, want true", k)
		}
	}
	for _, k := range notSecret {
		if SecretKey(k) {
			t.Errorf("SecretKey(%q) = true, want false", k)
		}
	}
}

func TestKeyWords(t *testing.T) {
	for key, want := range map[string][]string{
		"AWS_SECRET_ACCESS_KEY": {"AWS", "SECRET", "ACCESS", "KEY"},
		"apiKey":                {"api", "Key"},
		"APIKey":                {"API", "Key"},
		"db-password.v2":        {"db", "password", "v", "2"},
		"S3KEY":                 {"S", "3", "KEY"},
		"MONKEY":                {"MONKEY"},
		"__x__":                 {"x"},
	} {
		if got := keyWords(key); !slices.Equal(got, want) {
			t.Errorf("keyWords(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestMaskValue(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		// Secret keys: always Masked, even empty.
		{"DB_PASSWORD", "hunter2", Masked},
		{"SENTRY_DSN", "https://abc@o1.ingest.sentry.io/2", Masked},
		{"apiKey", "", Masked},
		{"GITHUB_TOKEN", Masked, Masked},
		// Plain keys: kept, except for embedded secrets.
		{"DB_HOST", "db", "db"},
		{"DEBUG", "", ""},
		{"MONKEY", "banana", "banana"},
		{"DATABASE_URL", "postgres://u:p@db:5432/x", "postgres://u:********@db:5432/x"},
		{"DATABASE_URL", "postgres://u:p%40ss@db:5432/x?sslmode=disable", "postgres://u:********@db:5432/x?sslmode=disable"},
		{"DATABASE_URL", "postgres://u:p@ss@db/x", "postgres://u:********@db/x"},
		{"DATABASE_URL", "postgres://u@db:5432/x", "postgres://u@db:5432/x"},
		{"DATABASE_URL", "postgres://u:@db:5432/x", "postgres://u:@db:5432/x"},
		{"DATABASE_URL", "postgres://db:5432/x", "postgres://db:5432/x"},
		{"OPTS", "--url=redis://:pw@cache:6379", "--url=redis://:********@cache:6379"},
		{"OPTS", "--url=redis://:pw@cache:6379 --other=amqp://guest:guest@mq/", "--url=redis://:********@cache:6379 --other=amqp://guest:********@mq/"},
		{"MYSQL", "app:pw@tcp(db:3306)/shop", "app:********@tcp(db:3306)/shop"},
		{"PG_CONN", "host=db user=app password=s3cr3t dbname=x", "host=db user=app password=******** dbname=x"},
		{"PG_CONN", "host=db password='with space' dbname=x", "host=db password='********' dbname=x"},
		{"OPTS", "--db-password=s3cr3t --port=5", "--db-password=******** --port=5"},
		{"OPTS", "--password s3cr3t --verbose", "--password ******** --verbose"},
		{"OPTS", "--no-auth serve", "--no-auth serve"},
		{"JAVA_OPTS", "-Xmx1g -Ddb.password=s3cr3t", "-Xmx1g -Ddb.password=********"},
		{"CALLBACK", "https://api.example.com/hook?token=abc&x=1", "https://api.example.com/hook?token=********&x=1"},
		{"CONFIG", `{"api_key": "abc", "name": "n"}`, `{"api_key": "********", "name": "n"}`},
		{"HOST", "http://host:8080/path", "http://host:8080/path"},
		{"GIT", "git@github.com:org/repo.git", "git@github.com:org/repo.git"},
		{"GREETING", "the key point is a secret", "the key point is a secret"},
	} {
		if got := MaskValue(tc.key, tc.value); got != tc.want {
			t.Errorf("MaskValue(%q, %q) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
		if got := MaskValue(tc.key, tc.want); got != tc.want {
			t.Errorf("MaskValue is not idempotent on (%q, %q): %q", tc.key, tc.want, got)
		}
	}
}

func TestMaskArgs(t *testing.T) {
	for _, tc := range []struct{ args, want []string }{
		{nil, nil},
		{[]string{"/app", "--port", "80"}, []string{"/app", "--port", "80"}},
		{[]string{"/app", "--password", "x", "--verbose"}, []string{"/app", "--password", Masked, "--verbose"}},
		{[]string{"/app", "--token=x"}, []string{"/app", "--token=" + Masked}},
		{[]string{"/app", "--auth", "--verbose"}, []string{"/app", "--auth", "--verbose"}},
		{[]string{"/app", "--no-auth", "serve"}, []string{"/app", "--no-auth", "serve"}},
		{[]string{"/app", "--dsn", "postgres://db/x"}, []string{"/app", "--dsn", Masked}},
		{[]string{"/app", "--db", "postgres://u:p@db/x"}, []string{"/app", "--db", "postgres://u:" + Masked + "@db/x"}},
		{[]string{"sh", "-c", "exec app --password $DB_PASSWORD"}, []string{"sh", "-c", "exec app --password " + Masked}},
		{[]string{"/app", "--password"}, []string{"/app", "--password"}},
	} {
		var hidden []string
		got := maskArgs(tc.args, &hidden)
		if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("maskArgs(%q) = %q, want %q", tc.args, got, tc.want)
		}
		if again := maskArgs(got, nil); !slices.Equal(again, got) {
			t.Errorf("maskArgs is not idempotent on %q: %q", got, again)
		}
	}
}

func TestMaskEnv(t *testing.T) {
	in := []string{"DB_PASSWORD=hunter2", "DB_HOST=db", "DATABASE_URL=postgres://u:p@db/x", "EMPTY=", "INHERITED", "X=a=b"}
	want := []string{"DB_PASSWORD=" + Masked, "DB_HOST=db", "DATABASE_URL=postgres://u:" + Masked + "@db/x", "EMPTY=", "INHERITED", "X=a=b"}
	got := MaskEnv(in)
	if !slices.Equal(got, want) {
		t.Errorf("MaskEnv = %q, want %q", got, want)
	}
	if in[0] != "DB_PASSWORD=hunter2" {
		t.Error("MaskEnv changed its argument")
	}
	if MaskEnv(nil) != nil {
		t.Error("MaskEnv(nil) != nil")
	}
}
