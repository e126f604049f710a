package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"gopkg.in/yaml.v3"
)

// composer is a Compose implementation the bench can run.
type composer struct {
	argv    []string // the command, e.g. [docker-compose] or [docker compose]
	version string
	v1      bool // docker-compose 1.x: needs composeV1's dialect
}

func (c composer) label() string {
	name := strings.Join(c.argv, " ")
	if strings.Contains(name, "/") {
		name = "Compose"
	}
	return name + " " + c.version
}

func (c composer) cmd(project, file string, args ...string) (string, []string) {
	all := append(append([]string{}, c.argv[1:]...), "-p", project, "-f", file)
	return c.argv[0], append(all, args...)
}

// findCompose returns docker-compose 1.x (Debian's), when installed, and a
// v2+ Compose: $COMPOSE, or the docker CLI's compose plugin.
func findCompose() (v1, v2 *composer) {
	probe := func(argv ...string) *composer {
		out, err := exec.Command(argv[0], append(argv[1:], "version", "--short")...).Output()
		if err != nil {
			return nil
		}
		v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
		return &composer{argv: argv, version: v, v1: strings.HasPrefix(v, "1.")}
	}
	var found []*composer
	if p := os.Getenv("COMPOSE"); p != "" {
		found = append(found, probe(p))
	}
	found = append(found, probe("docker", "compose"), probe("docker-compose"))
	for _, c := range found {
		switch {
		case c == nil:
		case c.v1 && v1 == nil:
			v1 = c
		case !c.v1 && v2 == nil:
			v2 = c
		}
	}
	return v1, v2
}

// plainCompose drops the export's probe services (one per health check,
// labelled cjob.probe-for): what remains are the same containers cjob
// starts, as plain Compose services. A dependency on a probe becomes one on
// the service it probed, started.
func plainCompose(in []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, err
	}
	services, _ := doc["services"].(map[string]any)
	probes := map[string]bool{}
	for name, sv := range services {
		if svc, ok := sv.(map[string]any); ok {
			if labels, ok := svc["labels"].(map[string]any); ok && labels["cjob.probe-for"] != nil {
				probes[name] = true
			}
		}
	}
	for name := range probes {
		delete(services, name)
	}
	for _, sv := range services {
		svc, ok := sv.(map[string]any)
		if !ok {
			continue
		}
		deps, ok := svc["depends_on"].(map[string]any)
		if !ok {
			continue
		}
		for d := range deps {
			if probes[d] {
				delete(deps, d)
				deps[strings.TrimSuffix(d, "-ready")] = map[string]any{"condition": "service_started"}
			}
		}
	}
	return yaml.Marshal(doc)
}

// composeV1 rewrites a Compose Specification file into what docker-compose
// 1.29 accepts: no top-level name (the project comes from -p), no
// depends_on.required, ports in the short form.
func composeV1(in []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, err
	}
	delete(doc, "name")
	services, _ := doc["services"].(map[string]any)
	for _, sv := range services {
		svc, ok := sv.(map[string]any)
		if !ok {
			continue
		}
		if deps, ok := svc["depends_on"].(map[string]any); ok {
			for _, d := range deps {
				if dm, ok := d.(map[string]any); ok {
					delete(dm, "required")
				}
			}
		}
		if ports, ok := svc["ports"].([]any); ok {
			for i, p := range ports {
				if pm, ok := p.(map[string]any); ok {
					ports[i] = fmt.Sprintf("%v:%v:%v", pm["host_ip"], pm["published"], pm["target"])
				}
			}
		}
	}
	return yaml.Marshal(doc)
}
