package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/envui"
	"github.com/cjob/cjob/internal/ui"
	"github.com/cjob/cjob/prodspec"
)

// serveUI serves a UI source on listen until ctx ends, printing where.
func serveUI(ctx context.Context, cmd *cobra.Command, src ui.Source, listen, token string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w (pick another address with --listen)", listen, err)
	}
	hs := &http.Server{Handler: ui.New(src, ui.Options{}).Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(cmd.OutOrStdout(), "cjob %s ui: http://%s/\n  actions (log in): http://%s/login?token=%s\n", src.Env().Name, l.Addr(), l.Addr(), token)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return nil
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newDevUI(g *global) *cobra.Command {
	var listen string
	c := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web UI of the dev stack: jobs, containers, logs, swaps",
		Long: `UI serves the web UI for this machine's dev stack: services, jobs (with
the swapped ones, their folder, last build log and timings), containers with
their inspect data and live logs, host sandboxes, events and the topology.
It prints a login URL holding a fresh token; with it the UI offers up, down,
reload and restore; without it, it is read-only.`,
		Example: `  cjob dev ui
  cjob dev ui --listen 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if _, err := loadFile(g); err != nil {
				return err
			}
			eng, err := dial(ctx, g)
			if err != nil {
				return err
			}
			defer eng.Close()
			tok := newToken()
			src := envui.NewDev(eng, envui.Local{Load: func() (*prodspec.File, error) { return loadFile(g) }, Token: tok, Who: userName()})
			return serveUI(ctx, cmd, src, listen, tok)
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:2018", "address to serve on")
	return c
}

func newStagingUI(g *global) *cobra.Command {
	var listen string
	c := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web UI of the staging pool",
		Example: `  cjob staging ui
  cjob staging ui --listen 0.0.0.0:2019`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := loadFile(g); err != nil {
				return err
			}
			tok := newToken()
			src := envui.NewStaging(envui.Local{Load: func() (*prodspec.File, error) { return loadFile(g) }, Token: tok, Who: userName()})
			return serveUI(cmd.Context(), cmd, src, listen, tok)
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:2019", "address to serve on")
	return c
}

func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "developer"
}
