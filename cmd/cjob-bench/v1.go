package main

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

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
