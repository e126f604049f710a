package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// MemoryUsage is a running container's memory use in bytes (the engine's
// one-shot stats: one sample, no waiting for a second one). Page cache is
// left out, as `docker stats` does.
func (e *Engine) MemoryUsage(ctx context.Context, id string) (int64, error) {
	r, err := e.c.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return 0, fmt.Errorf("stats of %s: %w", id, err)
	}
	defer r.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		return 0, fmt.Errorf("stats of %s: %w", id, err)
	}
	use := int64(s.MemoryStats.Usage)
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := s.MemoryStats.Stats[k]; ok && int64(v) < use {
			return use - int64(v), nil
		}
	}
	return use, nil
}

// InspectRaw is the container's `docker inspect` document.
func (e *Engine) InspectRaw(ctx context.Context, id string) (json.RawMessage, error) {
	r, err := e.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", id, err)
	}
	if len(r.Raw) > 0 {
		return r.Raw, nil
	}
	return json.Marshal(r.Container)
}
