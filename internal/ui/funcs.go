package ui

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/status"
)

func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"bytes":       humanBytes,
		"clock":       clock,
		"stamp":       stamp,
		"ago":         func(t time.Time) string { return ago(u.o.Now(), t) },
		"dur":         humanDur,
		"join":        strings.Join,
		"jobClass":    jobClass,
		"taskClass":   taskClass,
		"taskText":    taskText,
		"healthClass": healthClass,
		"resultClass": resultClass,
		"short":       shortID,
		"jobURL":      func(name string) string { return "/jobs/" + url.PathEscape(name) },
		"ctrURL":      func(name string) string { return "/containers/" + url.PathEscape(name) },
		"logURL":      func(name string) string { return "/ui/logs/" + url.PathEscape(name) },
		"versions":    versionList,
		"isJob":       func(s string) bool { return strings.Contains(s, ".") && !strings.ContainsAny(s, " /") },
		"lower":       strings.ToLower,
		"pct":         pct,
		"add":         func(a, b int) int { return a + b },
	}
}

func humanBytes(n int64) string {
	if n <= 0 {
		return ""
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v >= 100 {
		return fmt.Sprintf("%.0f %ciB", v, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}

func pct(a, b int64) string {
	if b <= 0 || a <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
}

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("15:04:05")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func humanDur(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func versionList(vs []int64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = itoa(v)
	}
	return strings.Join(parts, ", ")
}

// Colors: s-ok green, s-warn amber, s-bad red, s-idle grey.

// jobClass is the color of a job state.
func jobClass(state string) string {
	switch state {
	case "ok", "running":
		return "s-ok"
	case "outdated", "stopped":
		return "s-warn"
	case "completed":
		return "s-idle"
	case "down", "degraded", "missing":
		return "s-bad"
	}
	return "s-warn"
}

// taskClass is the color of a task: running green (amber when outdated,
// red when unhealthy), a oneshot's clean exit grey, other exits and missing
// containers red.
func taskClass(t *status.Task) string {
	switch t.State {
	case "running":
		if strings.HasPrefix(t.Health, "unhealthy") {
			return "s-bad"
		}
		if t.Outdated {
			return "s-warn"
		}
		return "s-ok"
	case "exited":
		if strings.HasPrefix(t.Status, "Exited (0)") {
			if t.Outdated {
				return "s-warn"
			}
			return "s-idle"
		}
		return "s-bad"
	case "missing", "dead", "restarting", "removing":
		return "s-bad"
	}
	return "s-warn" // created, paused, ...
}

// taskText is a task's state in words.
func taskText(t *status.Task) string {
	s := t.State
	if t.Outdated && t.State == "running" {
		s += ", outdated"
	}
	return s
}

func healthClass(h string) string {
	switch {
	case h == "":
		return ""
	case h == "healthy":
		return "s-ok"
	case strings.HasPrefix(h, "unhealthy"):
		return "s-bad"
	}
	return "s-warn"
}

func resultClass(r string) string {
	switch r {
	case "ok", "done", "success":
		return "s-ok"
	case "failed", "error":
		return "s-bad"
	case "":
		return ""
	}
	return "s-warn" // refused, rolled back, ...
}
