package status

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cjob/cjob/prodspec"
)

// Dep is an edge of the jobs' dependency graph: Job needs To.
type Dep struct {
	To  string `json:"to"`
	Why string `json:"why"` // "depends_on", or the env key naming To's address
}

var addrRE = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9_.-]*):(\d{1,5})\b`)

// Dependencies is what each job of f talks to: its depends_on, and every
// job whose production address (host:port, localhost:port for a job on the
// same host, or its DNS name <job>.<service><suffix>:port) an env value
// names. Edges are unique per pair (depends_on first) and sorted.
func Dependencies(f *prodspec.File) map[string][]Dep {
	// host or DNS name (lower case) and port -> the job serving it
	serves := map[string]string{}
	hostsOf := map[string][]string{}
	for _, j := range f.Jobs() {
		full := j.FullName()
		for _, t := range j.Tasks {
			hostsOf[full] = append(hostsOf[full], t.Host)
		}
		for _, p := range j.Ports {
			port := ":" + strconv.Itoa(p)
			for _, h := range hostsOf[full] {
				serves[strings.ToLower(h)+port] = full
				serves[strings.ToLower(h+f.DNSSuffix)+port] = full
			}
			serves[strings.ToLower(j.Name+"."+j.Service+f.DNSSuffix)+port] = full
			serves[strings.ToLower(j.Name+f.DNSSuffix)+port] = full
		}
	}
	out := map[string][]Dep{}
	for _, j := range f.Jobs() {
		full := j.FullName()
		seen := map[string]bool{full: true}
		var deps []Dep
		for _, d := range j.DependsOn {
			if !seen[d] {
				seen[d] = true
				deps = append(deps, Dep{To: d, Why: "depends_on"})
			}
		}
		env := map[string]string{}
		for k, v := range j.Env {
			env[k] = v
		}
		for _, t := range j.Tasks {
			for k, v := range t.Env {
				env[k] = v
			}
		}
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, m := range addrRE.FindAllStringSubmatch(env[k], -1) {
				name, port := strings.ToLower(m[1]), ":"+m[2]
				var to string
				if name == "localhost" || name == "127.0.0.1" {
					for _, h := range hostsOf[full] {
						if s := serves[strings.ToLower(h)+port]; s != "" {
							to = s
						}
					}
				} else {
					to = serves[name+port]
				}
				if to != "" && !seen[to] {
					seen[to] = true
					deps = append(deps, Dep{To: to, Why: k})
				}
			}
		}
		slices.SortStableFunc(deps, func(a, b Dep) int {
			if (a.Why == "depends_on") != (b.Why == "depends_on") {
				if a.Why == "depends_on" {
					return -1
				}
				return 1
			}
			return strings.Compare(a.To, b.To)
		})
		out[full] = deps
	}
	return out
}
