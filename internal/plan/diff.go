package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cjob/cjob/internal/stack"
)

// diffCause names what changed between the container's recorded spec and
// the desired one: "env DEBUG, LOG_LEVEL changed; image changed".
func diffCause(cur *stack.Container, u *stack.Unit) string {
	old, ok := cur.Spec()
	if !ok {
		return "config changed"
	}
	return SpecChanges(old, u.Spec)
}

// SpecChanges names what changed from old to n: "env DEBUG, LOG_LEVEL
// changed; image a -> b", or "config changed" when no field did.
func SpecChanges(old, n stack.Spec) string {
	var parts []string
	if old.Image != n.Image {
		parts = append(parts, fmt.Sprintf("image %s -> %s", old.Image, n.Image))
	}
	if !slices.Equal(old.Command, n.Command) {
		parts = append(parts, "command changed")
	}
	if !slices.Equal(old.Entrypoint, n.Entrypoint) {
		parts = append(parts, "entrypoint changed")
	}
	if keys := envDiff(old.Env, n.Env); len(keys) > 0 {
		parts = append(parts, "env "+strings.Join(keys, ", ")+" changed")
	}
	if !slices.Equal(old.Mounts, n.Mounts) {
		parts = append(parts, "volumes changed")
	}
	if old.Memory != n.Memory {
		parts = append(parts, "memory changed")
	}
	if !slices.Equal(old.Publish, n.Publish) {
		parts = append(parts, "ports changed")
	}
	if !slices.Equal(old.Aliases, n.Aliases) || old.Hostname != n.Hostname {
		parts = append(parts, "names changed")
	}
	if !slices.Equal(old.ExtraHosts, n.ExtraHosts) {
		parts = append(parts, "extra hosts changed")
	}
	if old.JoinSandbox != n.JoinSandbox {
		parts = append(parts, "host changed")
	}
	if old.StopTimeout != n.StopTimeout || old.Init != n.Init {
		parts = append(parts, "runtime options changed")
	}
	if len(parts) == 0 {
		return "config changed"
	}
	return strings.Join(parts, "; ")
}

func envDiff(a, b []string) []string {
	am, bm := envMap(a), envMap(b)
	keys := map[string]bool{}
	for k, v := range am {
		if bv, ok := bm[k]; !ok || bv != v {
			keys[k] = true
		}
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys[k] = true
		}
	}
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func sortStrings(s []string) { sort.Strings(s) }
