package production

import (
	"testing"
	"time"

	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/stack"
)

func TestBounded(t *testing.T) {
	u := &stack.Unit{Key: "a/1", Health: &stack.Check{HTTP: "/healthz", Port: 80, Interval: 2 * time.Second, Retries: 30, StartPeriod: 5 * time.Second}}
	for _, c := range []struct {
		d, want time.Duration
	}{{0, 65 * time.Second}, {10 * time.Second, 10 * time.Second}, {3 * time.Second, 4 * time.Second}, {time.Millisecond, 2 * time.Second}} {
		b := bounded(u, c.d)
		if got := health.Deadline(b.Health); got != c.want {
			t.Errorf("bounded(%v): deadline %v, want %v", c.d, got, c.want)
		}
	}
	if u.Health.Retries != 30 || u.Health.StartPeriod != 5*time.Second {
		t.Errorf("bounded changed the unit it was given: %+v", u.Health)
	}
	if b := bounded(&stack.Unit{Key: "b/1"}, time.Second); b.Health != nil {
		t.Errorf("a unit without a check got one")
	}
}
