package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/server"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
)

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "cjob", "server")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "cjob", "server")
	}
	return "cjob-server"
}

func newServer() *cobra.Command {
	var (
		listen    string
		dataDir   string
		etcd      string
		tokenFile string
		webhook   string
		poll      time.Duration
		timeout   time.Duration
		tlsCert   string
		tlsKey    string
		keep      time.Duration
	)
	c := &cobra.Command{
		Use:   "server",
		Short: "Run the production control plane: the API over etcd, host polling, rollouts",
		Long: `Server keeps every pushed version of the jobs file, every event and each
job's state in etcd, watches for new versions (logging which jobs they make
outdated and POSTing to --webhook), polls every production host's engine,
and serves the JSON API (docs/api.md) that push, status, up, down, reload,
update, rolling-update and rollback talk to.

With no --etcd it runs an embedded etcd member in --data-dir, so this one
command is a complete server; with --etcd it uses that cluster.

Reads are open to anyone who reaches the address. Mutations need a token:
one per line in --token-file ("name:token" names it in the event log). With
no --token-file a token is generated in DATA-DIR/token.`,
		Example: `  cjob server
  cjob server --listen 0.0.0.0:2017 --token-file /etc/cjob/tokens
  cjob server --etcd http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379
  cjob server --webhook https://chat.example.com/hooks/deploys`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			logger := log.New(cmd.ErrOrStderr(), "cjob server: ", log.LstdFlags)
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return fmt.Errorf("data dir: %w", err)
			}
			if tokenFile == "" {
				tokenFile = filepath.Join(dataDir, "token")
				made, err := ensureToken(tokenFile)
				if err != nil {
					return err
				}
				if made {
					logger.Printf("generated a token in %s", tokenFile)
				}
				logger.Printf("mutations need the token: export CJOB_TOKEN=$(cat %s)", tokenFile)
			}
			tokens, err := server.ReadTokens(tokenFile)
			if err != nil {
				return err
			}
			so := store.Options{DataDir: dataDir, Logf: logger.Printf}
			if etcd != "" {
				for _, e := range strings.Split(etcd, ",") {
					if e = strings.TrimSpace(e); e != "" {
						so.Endpoints = append(so.Endpoints, e)
					}
				}
			}
			if (tlsCert == "") != (tlsKey == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if tlsCert != "" {
				if _, err := tls.LoadX509KeyPair(tlsCert, tlsKey); err != nil {
					return fmt.Errorf("--tls-cert/--tls-key: %w", err)
				}
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w (is another server running? pick another address with --listen)", listen, err)
			}
			st, err := store.Open(ctx, so)
			if err != nil {
				l.Close()
				return err
			}
			defer st.Close()
			srv, err := server.New(server.Options{Store: st, Tokens: tokens, Webhook: webhook, PollInterval: poll, PollTimeout: timeout, Logf: logger.Printf, KeepEvents: keep})
			if err != nil {
				return err
			}
			apiH := srv.Handler()
			mux := http.NewServeMux()
			mux.Handle("/api/", apiH)
			mux.Handle("/healthz", apiH)
			mux.Handle("/", ui.New(srv.UI(), ui.Options{}).Handler())
			hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			where := "embedded etcd at " + strings.Join(st.Endpoints(), ",") + ", data in " + dataDir
			if !st.Embedded() {
				where = "etcd " + strings.Join(st.Endpoints(), ",")
			}
			scheme := "http"
			if tlsCert != "" {
				scheme = "https"
			} else if ap, err := netip.ParseAddrPort(l.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
				logger.Printf("warning: serving plain HTTP on %s: tokens cross the network in clear text; give --tls-cert and --tls-key", l.Addr())
			}
			logger.Printf("listening on %s://%s (%s)", scheme, l.Addr(), where)
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			errc := make(chan error, 2)
			go func() { errc <- srv.Run(runCtx) }()
			go func() {
				if tlsCert != "" {
					errc <- hs.ServeTLS(l, tlsCert, tlsKey)
					return
				}
				errc <- hs.Serve(l)
			}()
			select {
			case <-ctx.Done():
				logger.Printf("shutting down")
			case err := <-errc:
				if err != nil && !errors.Is(err, http.ErrServerClosed) {
					return err
				}
			}
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			hs.Shutdown(sctx)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:2017", "address to serve the API on")
	f.StringVar(&dataDir, "data-dir", defaultDataDir(), "directory of the embedded etcd member and the generated token")
	f.StringVar(&etcd, "etcd", "", "etcd client URLs, comma-separated (default: an embedded member in --data-dir)")
	f.StringVar(&tokenFile, "token-file", "", "file of tokens for mutations, one per line, \"name:token\" or \"token\" (default: DATA-DIR/token, generated)")
	f.StringVar(&webhook, "webhook", "", "URL to POST every new version to, with the jobs it makes outdated")
	f.DurationVar(&poll, "poll", 10*time.Second, "how often to poll the production hosts")
	f.DurationVar(&timeout, "host-timeout", 5*time.Second, "how long one host may take to answer a poll")
	f.StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM); clients use https://HOST and, for a private CA, --cacert")
	f.StringVar(&tlsKey, "tls-key", "", "the certificate's key (PEM)")
	f.DurationVar(&keep, "keep-events", 90*24*time.Hour, "how long events are kept (0: forever); versions are always kept")
	return c
}

// ensureToken writes a random token to path unless it exists.
func ensureToken(path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return false, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("writing a token: %w", err)
	}
	return true, nil
}
