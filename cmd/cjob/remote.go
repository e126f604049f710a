package main

import (
	"net/http"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/api"
)

// remote holds the flags of the commands that talk to a cjob server.
type remote struct {
	host   string
	token  string
	cacert string
	asJSON bool
}

func (r *remote) register(c *cobra.Command, withJSON bool) {
	host := os.Getenv("CJOB_HOST")
	if host == "" {
		host = "127.0.0.1:2017"
	}
	c.Flags().StringVar(&r.host, "host", host, "cjob server address ($CJOB_HOST)")
	c.Flags().StringVar(&r.token, "token", "", "token for changes (default $CJOB_TOKEN)")
	c.Flags().StringVar(&r.cacert, "cacert", os.Getenv("CJOB_CACERT"), "CA certificate of a server with its own (https://) certificate ($CJOB_CACERT)")
	if withJSON {
		c.Flags().BoolVar(&r.asJSON, "json", false, "print as JSON")
	}
}

func (r *remote) client() *api.Client {
	tok := r.token
	if tok == "" {
		tok = strings.TrimSpace(os.Getenv("CJOB_TOKEN"))
	}
	c := api.NewClient(r.host, tok, operator())
	if r.cacert != "" {
		if err := c.TrustCA(r.cacert); err != nil {
			// Every call fails with this, before anything is sent.
			c.HTTP = &http.Client{Transport: failing{err}}
		}
	}
	return c
}

// failing is a transport whose every request fails with err.
type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// operator is who the CLI says is asking: $CJOB_AUTHOR, else user@host.
func operator() string {
	if a := os.Getenv("CJOB_AUTHOR"); a != "" {
		return a
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

func newProdCommands(g *global) []*cobra.Command {
	return []*cobra.Command{newPush(g), newList(), newStatus(), newHistory(), newDiff(g),
		newJobAction("up"), newJobAction("down"), newJobAction("reload"), newUpdate(), newJobAction("rolling-update"), newJobAction("rollback"),
		newDeploy(), newEvents(), newLogs()}
}
