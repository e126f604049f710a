package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/stack"
)

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	mux.HandleFunc("/sick", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/sick", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	tests := []struct {
		name  string
		check stack.Check
		ok    bool
	}{
		{"http ok", stack.Check{HTTP: "/healthz", Port: port}, true},
		{"http 503", stack.Check{HTTP: "/sick", Port: port}, false},
		{"redirect is an answer", stack.Check{HTTP: "/moved", Port: port}, true},
		{"tcp open", stack.Check{Port: port}, true},
		{"tcp refused", stack.Check{Port: closedPort}, false},
		{"http refused", stack.Check{HTTP: "/healthz", Port: closedPort, Timeout: 200 * time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Probe(context.Background(), &tt.check, host)
			if (err == nil) != tt.ok {
				t.Errorf("Probe = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestBackoffGrowsToInterval(t *testing.T) {
	prev := time.Duration(0)
	for i := range 12 {
		d := Backoff(i, time.Second)
		if d < prev || d > time.Second {
			t.Fatalf("Backoff(%d) = %s after %s", i, d, prev)
		}
		prev = d
	}
	if Backoff(0, time.Second) > 50*time.Millisecond {
		t.Errorf("first retry should be quick, got %s", Backoff(0, time.Second))
	}
	if prev != time.Second {
		t.Errorf("backoff should reach the interval, got %s", prev)
	}
}

func TestDeadline(t *testing.T) {
	c := &stack.Check{Interval: time.Second, Retries: 5, StartPeriod: 3 * time.Second}
	if got := Deadline(c); got != 8*time.Second {
		t.Errorf("Deadline = %s, want 8s", got)
	}
	if got := Deadline(&stack.Check{}); got != 60*time.Second {
		t.Errorf("default Deadline = %s, want 60s", got)
	}
}
