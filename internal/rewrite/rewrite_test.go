package rewrite

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// ipLiteral is what replaceAddresses finds, as a regular expression.
var ipLiteral = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

// TestReplaceAddressesMatchesRegexp: the scanner finds exactly what the
// regexp ipLiteral finds, on random strings made of the characters that
// matter.
func TestReplaceAddressesMatchesRegexp(t *testing.T) {
	hostAddr := map[string]string{"10.0.0.1": "app-1", "1.2.3.4": "h4", "192.168.10.200": "db"}
	want := func(v string) string {
		return ipLiteral.ReplaceAllStringFunc(v, func(ip string) string {
			if h, ok := hostAddr[ip]; ok {
				return h
			}
			return ip
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "0123456789....a_:/ -1"
	for _, v := range []string{"http://10.0.0.1:80", "10.0.0.1", "x10.0.0.1", "10.0.0.1x", "110.0.0.1", "10.0.0.12", "1.2.3.4.5", "1.2.3.45678", "a 1.2.3.4,10.0.0.1;192.168.10.200/x", "1234.1.2.3.4", "1.2.3.4.10.0.0.1"} {
		if got := replaceAddresses(v, hostAddr); got != want(v) {
			t.Errorf("replaceAddresses(%q) = %q, want %q", v, got, want(v))
		}
	}
	for range 200000 {
		b := make([]byte, 1+rng.IntN(24))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(3) == 0 {
			b = append(b, []byte([]string{"10.0.0.1", "1.2.3.4", "192.168.10.200"}[rng.IntN(3)])...)
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		v := string(b)
		if got := replaceAddresses(v, hostAddr); got != want(v) {
			t.Fatalf("replaceAddresses(%q) = %q, want %q", v, got, want(v))
		}
	}
}
