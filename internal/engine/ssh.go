package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"time"
)

// sshDialer connects to an engine at ssh://[user@]host[:port] the way the
// docker CLI does: `ssh host docker system dial-stdio` relays the remote
// engine's socket over the ssh session's stdin and stdout.
func sshDialer(endpoint string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("invalid ssh endpoint %q: want ssh://[user@]host[:port]", endpoint)
		}
		args := []string{"-o", "ConnectTimeout=10", "-o", "BatchMode=yes", "-T"}
		if p := u.Port(); p != "" {
			args = append(args, "-p", p)
		}
		target := u.Hostname()
		if u.User != nil {
			target = u.User.Username() + "@" + target
		}
		args = append(args, "--", target, "docker", "system", "dial-stdio")
		// The connection outlives the dial's context: it is closed by Close.
		cmd := exec.Command("ssh", args...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("ssh to %s: %w", target, err)
		}
		return &cmdConn{cmd: cmd, r: stdout, w: stdin, addr: target}, nil
	}
}

// cmdConn is a net.Conn over a command's stdout and stdin.
type cmdConn struct {
	cmd  *exec.Cmd
	r    io.ReadCloser
	w    io.WriteCloser
	addr string
}

func (c *cmdConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *cmdConn) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *cmdConn) Close() error {
	c.w.Close()
	c.r.Close()
	if c.cmd.Process != nil {
		c.cmd.Process.Kill()
	}
	_ = c.cmd.Wait()
	return nil
}
func (c *cmdConn) LocalAddr() net.Addr              { return sshAddr(c.addr) }
func (c *cmdConn) RemoteAddr() net.Addr             { return sshAddr(c.addr) }
func (c *cmdConn) SetDeadline(time.Time) error      { return nil }
func (c *cmdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cmdConn) SetWriteDeadline(time.Time) error { return nil }

type sshAddr string

func (a sshAddr) Network() string { return "ssh" }
func (a sshAddr) String() string  { return string(a) }
