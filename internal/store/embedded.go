package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// readyTimeout bounds how long an embedded member may take to become ready
// (elect a leader and publish itself).
const readyTimeout = 60 * time.Second

// memberSpec describes one embedded etcd member.
type memberSpec struct {
	name           string // member name
	dir            string // etcd data directory
	logFile        string // etcd's own log (level error)
	clientURL      string // listen and advertise
	peerURL        string // listen and advertise
	initialCluster string // "name=peerURL,..."; ignored by etcd once dir holds data
	token          string // initial cluster token
	test           bool   // test tuning: short election timeout, no fsync
}

// config builds the etcd configuration of the member.
func (m memberSpec) config() (*embed.Config, error) {
	cu, err := url.Parse(m.clientURL)
	if err != nil {
		return nil, fmt.Errorf("client URL %q: %w", m.clientURL, err)
	}
	pu, err := url.Parse(m.peerURL)
	if err != nil {
		return nil, fmt.Errorf("peer URL %q: %w", m.peerURL, err)
	}
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = m.initialCluster
	cfg.InitialClusterToken = m.token
	cfg.ClusterState = embed.ClusterStateFlagNew // etcd ignores it when the WAL exists
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{m.logFile}
	cfg.EnableGRPCGateway = false
	// Versions are explicit keys, so compacting old revisions loses nothing
	// and keeps the database small.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	if m.test {
		cfg.TickMs = 50
		cfg.ElectionMs = 500
		cfg.UnsafeNoFsync = true
	}
	return cfg, nil
}

// startMember starts the member and waits until it is ready to serve.
func startMember(ctx context.Context, m memberSpec) (*embed.Etcd, error) {
	cfg, err := m.config()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(m.dir), 0o700); err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, describeStartError(err, m)
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd member %s stopped while starting: %w (see %s)", m.name, err, m.logFile)
	case <-timer.C:
		e.Close()
		return nil, fmt.Errorf("etcd member %s not ready within %s (no leader elected?; see %s)", m.name, readyTimeout, m.logFile)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcd member %s: %w", m.name, ctx.Err())
	}
}

func describeStartError(err error, m memberSpec) error {
	if isAddrInUse(err, m) {
		return fmt.Errorf("starting etcd member %s (client %s, peer %s): %w; is another cjob server or etcd using these ports?",
			m.name, m.clientURL, m.peerURL, err)
	}
	return fmt.Errorf("starting etcd member %s: %w (see %s)", m.name, err, m.logFile)
}

// isAddrInUse reports whether the member failed to start because one of
// its ports is taken. etcd does not always wrap the listener's error, so
// when the error does not say, the ports are tried: a listen that fails
// with EADDRINUSE is the answer.
func isAddrInUse(err error, m memberSpec) bool {
	if errors.Is(err, syscall.EADDRINUSE) {
		return true
	}
	for _, raw := range []string{m.clientURL, m.peerURL} {
		u, perr := url.Parse(raw)
		if perr != nil || u.Host == "" {
			continue
		}
		l, lerr := net.Listen("tcp", u.Host)
		if lerr == nil {
			l.Close()
			continue
		}
		if errors.Is(lerr, syscall.EADDRINUSE) {
			return true
		}
	}
	return false
}

// memberURLs is the content of DataDir/etcd-urls.json.
type memberURLs struct {
	Client string `json:"client"`
	Peer   string `json:"peer"`
}

const urlsFile = "etcd-urls.json"

func readMemberURLs(dataDir string) (memberURLs, bool, error) {
	var u memberURLs
	b, err := os.ReadFile(filepath.Join(dataDir, urlsFile))
	if errors.Is(err, os.ErrNotExist) {
		return u, false, nil
	}
	if err != nil {
		return u, false, err
	}
	if err := json.Unmarshal(b, &u); err != nil {
		return u, false, fmt.Errorf("%s: %w", urlsFile, err)
	}
	return u, true, nil
}

func writeMemberURLs(dataDir string, u memberURLs) error {
	b, err := json.MarshalIndent(u, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, urlsFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, urlsFile))
}

// chooseURL picks the URL for an embedded member's listener: the configured
// one, unless it is empty or has port 0; then the remembered one (if on the
// configured host); else none, and pickHost names the host to pick a free
// port on.
func chooseURL(configured, remembered string) (url, pickHost string, err error) {
	pickHost = "127.0.0.1"
	if configured != "" {
		u, err := parseHTTPURL(configured)
		if err != nil {
			return "", "", err
		}
		if u.Port() != "0" {
			return configured, "", nil
		}
		pickHost = u.Hostname()
		if r, err := parseHTTPURL(remembered); err == nil && r.Hostname() == pickHost {
			return remembered, "", nil
		}
		return "", pickHost, nil
	}
	if remembered != "" {
		return remembered, "", nil
	}
	return "", pickHost, nil
}

func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("%q: want http://host:port", raw)
	}
	return u, nil
}

// freeURLs returns an http://host:port URL for each host, with a port that
// was free a moment ago. All listeners are held until every port is chosen,
// so the ports differ from each other.
func freeURLs(hosts []string) ([]string, error) {
	ls := make([]net.Listener, 0, len(hosts))
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	urls := make([]string, 0, len(hosts))
	for _, h := range hosts {
		l, err := net.Listen("tcp", net.JoinHostPort(h, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port on %s: %w", h, err)
		}
		ls = append(ls, l)
		urls = append(urls, "http://"+l.Addr().String())
	}
	return urls, nil
}

// freeLoopbackURLs returns n distinct free http://127.0.0.1:<port> URLs.
func freeLoopbackURLs(n int) ([]string, error) {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = "127.0.0.1"
	}
	return freeURLs(hosts)
}

// embeddedMember is a running single-member etcd owned by a Store.
type embeddedMember struct {
	etcd      *embed.Etcd
	clientURL string
	unlock    func()
}

func (m *embeddedMember) close() {
	m.etcd.Close()
	m.unlock()
}

// startEmbedded starts (or restarts) the single embedded member of o.DataDir.
func startEmbedded(ctx context.Context, o Options) (*embeddedMember, error) {
	dataDir := o.DataDir
	if dataDir == "" {
		return nil, errors.New("embedded etcd: no data dir given (set a data dir, or give etcd endpoints)")
	}
	wrap := func(err error) error { return fmt.Errorf("data dir %s: %w", dataDir, err) }
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, wrap(err)
	}
	unlock, err := lockDir(filepath.Join(dataDir, "etcd.lock"))
	if err != nil {
		return nil, wrap(err)
	}
	ok := false
	defer func() {
		if !ok {
			unlock()
		}
	}()

	remembered, haveRemembered, err := readMemberURLs(dataDir)
	if err != nil {
		return nil, wrap(err)
	}
	client, clientHost, err := chooseURL(o.ClientURL, remembered.Client)
	if err != nil {
		return nil, wrap(fmt.Errorf("client URL: %w", err))
	}
	peer, peerHost, err := chooseURL(o.PeerURL, remembered.Peer)
	if err != nil {
		return nil, wrap(fmt.Errorf("peer URL: %w", err))
	}
	// Ports picked here can be taken by someone else before etcd binds
	// them; then pick again. Remembered or configured ports are never
	// replaced silently: a clash there likely means another server.
	picked := client == "" || peer == ""
	attempts := 1
	if picked {
		attempts = 3
	}
	etcdDir := filepath.Join(dataDir, "etcd")
	_, statErr := os.Stat(filepath.Join(etcdDir, "member", "wal"))
	existing := statErr == nil
	for attempt := 1; ; attempt++ {
		u := memberURLs{Client: client, Peer: peer}
		if picked {
			free, err := freeURLs([]string{clientHost, peerHost})
			if err != nil {
				return nil, wrap(err)
			}
			if u.Client == "" {
				u.Client = free[0]
			}
			if u.Peer == "" {
				u.Peer = free[1]
			}
		}
		spec := memberSpec{
			name:           "cjob",
			dir:            etcdDir,
			logFile:        filepath.Join(dataDir, "etcd.log"),
			clientURL:      u.Client,
			peerURL:        u.Peer,
			initialCluster: "cjob=" + u.Peer,
			token:          "cjob",
		}
		if existing {
			logf(o, "etcd: restarting embedded member from %s", etcdDir)
		} else {
			logf(o, "etcd: starting new embedded member in %s", etcdDir)
		}
		start := time.Now()
		e, err := startMember(ctx, spec)
		if err != nil {
			if picked && attempt < attempts && isAddrInUse(err, spec) {
				continue
			}
			return nil, wrap(err)
		}
		if !haveRemembered || u != remembered {
			if err := writeMemberURLs(dataDir, u); err != nil {
				e.Close()
				return nil, wrap(err)
			}
		}
		logf(o, "etcd: embedded member ready at %s (peer %s) after %s", u.Client, u.Peer, time.Since(start).Round(time.Millisecond))
		ok = true
		return &embeddedMember{etcd: e, clientURL: u.Client, unlock: unlock}, nil
	}
}

func logf(o Options, format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}
