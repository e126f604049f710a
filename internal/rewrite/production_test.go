package rewrite

import (
	"testing"

	"github.com/cjob/cjob/prodspec"
)

func TestProductionExtraHosts(t *testing.T) {
	src := `
project: p
hosts:
  a: {address: 10.0.0.1, docker: "tcp://10.0.0.1:2376"}
  b: {address: 10.0.0.2, docker: "tcp://10.0.0.2:2376"}
services:
  s:
    jobs:
      api: {image: x, port: 80, run_on_host: a}
      web: {image: y, port: 81, run_on_host: b}
`
	for _, c := range []struct {
		env  string
		want bool
	}{{"", true}, {"environments:\n  production: {extra_hosts: true}\n", true}, {"environments:\n  production: {extra_hosts: false}\n", false}} {
		f, err := prodspec.Parse("jobs.yml", []byte(src+c.env), prodspec.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Production(f, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range res.Stack.Units {
			if got := len(u.Spec.ExtraHosts) > 0; got != c.want {
				t.Errorf("%q: %s has extra hosts %v, want %v", c.env, u.Key, u.Spec.ExtraHosts, c.want)
			}
		}
		// The setting survives render and load.
		b, err := prodspec.Render(f)
		if err != nil {
			t.Fatal(err)
		}
		g, err := prodspec.Parse("again.yml", b, prodspec.LoadOptions{})
		if err != nil {
			t.Fatalf("%s\n%s", err, b)
		}
		if e := g.Environments["production"]; c.env != "" && (e == nil || e.ExtraHosts == nil || *e.ExtraHosts != c.want) {
			t.Errorf("%q: after render: %+v", c.env, e)
		}
	}
}
