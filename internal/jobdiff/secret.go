package jobdiff

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Masked is what a secret value is shown as, wherever it would be shown.
const Masked = "********"

// secretWords are the words of a key that make it secret. A key is split
// into words by keyWords and compared upper-cased.
//
// CERT is deliberately missing: certificates are public, and the keys that
// go with them match KEY. PWD matches as a word (DB_PWD), but the key PWD on
// its own, like OLDPWD, is the shell's working directory (see SecretKey).
var secretWords = wordSet(
	"PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PWD", "PASSPHRASE",
	"SECRET", "SECRETS",
	"TOKEN", "TOKENS",
	"KEY", "KEYS", "APIKEY", "ACCESSKEY",
	"PRIVATE",
	"CREDENTIAL", "CREDENTIALS", "CREDS",
	"AUTH", "AUTHORIZATION", "BEARER",
	"DSN",
	"SALT",
	"REQUIREPASS", "MASTERAUTH", // Redis's names for its passwords
)

// wordSet makes a set of words.
func wordSet(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// secretSuffixes make a word secret when it ends with one of them
// (DBPASSWORD, GITHUBTOKEN, CLIENTSECRET, STRIPEAPIKEY), and so does the
// whole key with its separators removed (AZURE_CONNECTION_STRING). A word
// merely ending in KEY or PASS is not secret: MONKEY, BYPASS.
var secretSuffixes = []string{
	"PASSWORD", "PASSWD", "PASSPHRASE",
	"SECRET",
	"TOKEN",
	"APIKEY", "ACCESSKEY", "SECRETKEY", "PRIVATEKEY", "MASTERKEY", "SIGNINGKEY", "ENCRYPTIONKEY",
	"CREDENTIAL",
	"CONNECTIONSTRING", "CONNSTRING",
}

// SecretKey reports whether the environment variable (or var, label, flag)
// named key looks like it holds a secret, whose value must never be shown.
//
// The key is split into words at every character that is not a letter or a
// digit ('_', '-', '.', ...), between a lower-case letter and an upper-case
// one (apiKey: api, Key; APIKey: API, Key) and between letters and digits
// (KEY2: KEY, 2). The match is case-insensitive. The key is secret when
//
//   - a word is one of PASSWORD(S), PASSWD, PASS, PWD, PASSPHRASE,
//     SECRET(S), TOKEN(S), KEY(S), APIKEY, ACCESSKEY, PRIVATE,
//     CREDENTIAL(S), CREDS, AUTH, AUTHORIZATION, BEARER, DSN, SALT, or
//     Redis's REQUIREPASS and MASTERAUTH (DB_PASSWORD, GITHUB_TOKEN,
//     API_KEY, apiKey, AWS_SECRET_ACCESS_KEY, SENTRY_DSN); or
//   - a word, or the whole key with its separators removed, ends with one
//     of the compounds PASSWORD, PASSWD, PASSPHRASE, SECRET, TOKEN, APIKEY,
//     ACCESSKEY, SECRETKEY, PRIVATEKEY, MASTERKEY, SIGNINGKEY,
//     ENCRYPTIONKEY, CREDENTIAL, CONNECTIONSTRING or CONNSTRING, optionally
//     followed by S (DBPASSWORD, STRIPEAPIKEY, CONNECTION_STRING).
//
// A word that only contains or ends in KEY or PASS is not secret (MONKEY,
// KEYBOARD_LAYOUT, BYPASS_CACHE), nor is CERT (certificates are public),
// nor are the shell's PWD and OLDPWD on their own (working directories).
//
// The rule errs towards masking: a key naming a file that holds a secret
// (DB_PASSWORD_FILE), a key id (AWS_ACCESS_KEY_ID) or a flag such as
// AUTH_ENABLED is secret too. Hiding a harmless value costs a little
// clarity; showing a secret cannot be undone.
func SecretKey(key string) bool {
	switch strings.ToUpper(key) {
	case "PWD", "OLDPWD":
		return false
	}
	var joined strings.Builder
	for _, w := range keyWords(key) {
		w = strings.ToUpper(w)
		if secretWords[w] || hasSecretSuffix(w) {
			return true
		}
		joined.WriteString(w)
	}
	return hasSecretSuffix(joined.String())
}

// hasSecretSuffix reports whether an upper-case word ends with one of
// secretSuffixes, or with one followed by S.
func hasSecretSuffix(w string) bool {
	for _, s := range secretSuffixes {
		if strings.HasSuffix(w, s) || strings.HasSuffix(w, s+"S") {
			return true
		}
	}
	return false
}

// keyWords splits a key into words, as SecretKey describes.
func keyWords(key string) []string {
	var (
		words []string
		cur   []rune
	)
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	rs := []rune(key)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if len(cur) > 0 {
			prev := cur[len(cur)-1]
			switch {
			case unicode.IsDigit(prev) != unicode.IsDigit(r):
				flush() // KEY2, S3KEY
			case unicode.IsLower(prev) && unicode.IsUpper(r):
				flush() // apiKey
			case unicode.IsUpper(prev) && unicode.IsUpper(r) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
				flush() // APIKey: API, Key
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

// MaskValue returns value as it may be shown for the environment variable
// (or var, or label) key:
//
//   - Masked when SecretKey(key), whatever the value, even empty;
//   - otherwise value with every secret embedded in it replaced by Masked
//     (see below), so that a non-secret key such as DATABASE_URL can be
//     shown without the password in it.
//
// The embedded secrets replaced, wherever they appear in the value:
//
//   - the password of a URL's user information:
//     "postgres://u:p@db:5432/x" becomes "postgres://u:********@db:5432/x",
//     "--url=redis://:pw@cache:6379" becomes "--url=redis://:********@cache:6379"
//     (the user name is kept);
//   - the password of a Go MySQL DSN, "u:p@tcp(db:3306)/x";
//   - the value of a name=value pair whose name is a SecretKey, after
//     start, white space or one of ; & ? , ' " ( [ {: "--db-password=x",
//     "-Dapp.secret=x", "host=db password=x" (libpq), "?token=x&a=1"
//     (quoted values keep their quotes);
//   - the argument of a flag whose name is a SecretKey: "--password x";
//   - the string value of a JSON member whose name is a SecretKey:
//     {"api_key": "x"}.
//
// MaskValue is idempotent: masking a masked value changes nothing.
func MaskValue(key, value string) string {
	return maskValue(key, value, nil)
}

// maskValue is MaskValue, appending what it hides to *hidden when hidden
// is not nil.
func maskValue(key, value string, hidden *[]string) string {
	if SecretKey(key) {
		record(hidden, value)
		return Masked
	}
	return maskText(value, hidden)
}

// record appends a hidden secret to *hidden, when hidden is not nil.
func record(hidden *[]string, s string) {
	if hidden != nil {
		*hidden = append(*hidden, s)
	}
}

// Patterns of secrets embedded in text. In each, the submatch named "v" is
// the secret and the one named "k", when there is one, the name that must
// be a SecretKey for it to be one.
var (
	jsonMemberRE = regexp.MustCompile(`"(?P<k>[A-Za-z_][A-Za-z0-9_.\-]*)"\s*:\s*"(?P<v>(?:[^"\\]|\\.)*)"`)
	nameValueRE  = regexp.MustCompile(`(?:^|[\s;&?,'"(\[{])(?P<k>-{0,2}[A-Za-z_][A-Za-z0-9_.\-]*)=(?:'(?P<v>[^']*)'|"(?P<v>[^"]*)"|(?P<v>[^\s;&,'"]+))`)
	flagValueRE  = regexp.MustCompile(`(?:^|\s)(?P<k>--?[A-Za-z][A-Za-z0-9_.\-]*)\s+(?:'(?P<v>[^']*)'|"(?P<v>[^"]*)"|(?P<v>[^\s'"\-]\S*))`)
	urlUserRE    = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s:@/?#]*:(?P<v>[^\s/?#]*)@`)
	mysqlDSNRE   = regexp.MustCompile(`(?:^|[\s=;,'"])[^\s:@/=;,'"()]*:(?P<v>[^\s@/;,'"()]+)@[a-z0-9]+\(`)
)

// embeddedPatterns are the patterns maskText looks for.
var embeddedPatterns = []*regexp.Regexp{jsonMemberRE, nameValueRE, flagValueRE, urlUserRE, mysqlDSNRE}

// maskText replaces the secrets embedded in s, as MaskValue describes,
// appending what it hides to *hidden in the order they appear in s: the
// i-th Masked of the result (not counting any s already had) stands for
// the i-th string appended. Every pattern is matched against s itself;
// secrets that overlap are masked as one.
func maskText(s string, hidden *[]string) string {
	if s == "" {
		return s
	}
	var spans [][2]int
	for _, re := range embeddedPatterns {
		spans = append(spans, secretSpans(re, s)...)
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return cmp.Or(a[0]-b[0], b[1]-a[1]) })
	var b strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		start, end := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] < end; i++ {
			end = max(end, spans[i][1])
		}
		record(hidden, s[start:end])
		b.WriteString(s[last:start])
		b.WriteString(Masked)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// secretSpans returns where the secrets re finds in s are: the "v"
// submatch of each match, when it is not empty and the match's "k"
// submatch, if re has one, is a SecretKey (less leading dashes, and not a
// --no- flag).
func secretSpans(re *regexp.Regexp, s string) [][2]int {
	names := re.SubexpNames()
	keyed := slices.Contains(names, "k")
	var spans [][2]int
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		key, span := "", [2]int{-1, -1}
		for g := 1; g < len(names); g++ {
			if m[2*g] < 0 {
				continue
			}
			switch names[g] {
			case "k":
				key = s[m[2*g]:m[2*g+1]]
			case "v":
				span = [2]int{m[2*g], m[2*g+1]}
			}
		}
		if span[0] == span[1] {
			continue
		}
		if keyed && (strings.HasPrefix(key, "--no-") || !SecretKey(strings.TrimLeft(key, "-"))) {
			continue
		}
		spans = append(spans, span)
	}
	return spans
}

// flagRE matches an argument that is a flag alone, "--password" or "-p".
var flagRE = regexp.MustCompile(`^--?[A-Za-z][A-Za-z0-9_.\-]*$`)

// maskArgs masks a command: each argument as maskText does, and the
// argument after a flag whose name is a SecretKey ("--password", "x"),
// unless it looks like a flag itself. Flags starting with --no- are taken
// to be negated booleans. nil stays nil. What it hides is appended to
// *hidden in order.
// MaskArgs is a command line with secret values masked (--password=x,
// --token x, URLs with passwords, ...).
func MaskArgs(args []string) []string { return maskArgs(args, nil) }

func maskArgs(args []string, hidden *[]string) []string {
	out, each := maskEachArg(args)
	if hidden != nil {
		for _, h := range each {
			*hidden = append(*hidden, h...)
		}
	}
	return out
}

// maskEachArg is maskArgs, returning what it hides argument by argument.
func maskEachArg(args []string) (out []string, hidden [][]string) {
	if args == nil {
		return nil, nil
	}
	out = make([]string, len(args))
	hidden = make([][]string, len(args))
	for i := 0; i < len(args); i++ {
		out[i] = maskText(args[i], &hidden[i])
		a := args[i]
		if i+1 < len(args) && flagRE.MatchString(a) && !strings.HasPrefix(a, "--no-") &&
			SecretKey(strings.TrimLeft(a, "-")) && args[i+1] != "" && !strings.HasPrefix(args[i+1], "-") {
			i++
			hidden[i] = []string{args[i]}
			out[i] = Masked
		}
	}
	return out, hidden
}

// MaskEnv masks a list of KEY=VALUE entries, as docker inspect shows a
// container's environment, with MaskValue. An entry without '=' names a
// variable without giving a value and is kept as is. The list is copied.
func MaskEnv(env []string) []string {
	if env == nil {
		return nil
	}
	out := make([]string, len(env))
	for i, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok {
			out[i] = k + "=" + MaskValue(k, v)
		} else {
			out[i] = e
		}
	}
	return out
}
