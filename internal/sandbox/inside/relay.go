package inside

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Relay listens on each pair's port and forwards every connection to the
// first of hosts that answers on the pair's target port: how a job swapped
// to a process on the developer's machine keeps its production address
// inside the stack (the relay runs in the job's host sandbox, so
// `core-app-1:8000` and `localhost:8000` reach it). A host is a name
// (host.docker.internal on Docker Desktop, host.containers.internal on
// Podman) or "gateway", the default route's gateway of this network
// namespace (the engine's host on Linux). The host that answered last is
// tried first. pairs are LISTEN=TARGET ports, e.g. "8000=41234".
func Relay(ctx context.Context, w io.Writer, hosts []string, pairs []string) error {
	if len(hosts) == 0 || len(pairs) == 0 {
		return errors.New("relay: name the hosts (--hosts) and at least one LISTEN=TARGET port pair")
	}
	r := &relay{hosts: hosts, w: w}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, p := range pairs {
		from, to, ok := strings.Cut(p, "=")
		if !ok {
			to = from
		}
		if _, err := strconv.Atoi(from); err != nil {
			return fmt.Errorf("relay: %q: want LISTEN=TARGET ports", p)
		}
		if _, err := strconv.Atoi(to); err != nil {
			return fmt.Errorf("relay: %q: want LISTEN=TARGET ports", p)
		}
		ln, err := net.Listen("tcp", ":"+from)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		lns = append(lns, ln)
		fmt.Fprintf(w, "relay: :%s -> %s port %s\n", from, strings.Join(hosts, " | "), to)
		go r.serve(ln, to)
	}
	<-ctx.Done()
	return nil
}

type relay struct {
	hosts []string
	last  atomic.Int32 // index of the host that answered last
	w     io.Writer
	mu    sync.Mutex // serialises log lines
}

func (r *relay) serve(ln net.Listener, port string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go r.pipe(c, port)
	}
}

func (r *relay) pipe(c net.Conn, port string) {
	defer c.Close()
	up, err := r.dial(port)
	if err != nil {
		r.mu.Lock()
		fmt.Fprintf(r.w, "relay: %v\n", err)
		r.mu.Unlock()
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); closeWrite(up); done <- struct{}{} }()
	go func() { io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

func (r *relay) dial(port string) (net.Conn, error) {
	first := int(r.last.Load())
	var errs []string
	for i := range r.hosts {
		k := (first + i) % len(r.hosts)
		host := r.hosts[k]
		if host == "gateway" {
			gw, err := defaultGateway()
			if err != nil {
				errs = append(errs, "gateway: "+err.Error())
				continue
			}
			host = gw
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 2*time.Second)
		if err == nil {
			r.last.Store(int32(k))
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("nothing answers on port %s of the developer's machine (is the local process running, and listening on all interfaces?): %s", port, strings.Join(errs, "; "))
}

// defaultGateway reads the default route's gateway from /proc/net/route.
func defaultGateway() (string, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseRoutes(f)
}

func parseRoutes(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[1] != "00000000" {
			continue
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil || len(b) != 4 {
			continue
		}
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, binary.LittleEndian.Uint32(b))
		return ip.String(), nil
	}
	return "", errors.New("no default route")
}
