package jobdiff

import "encoding/json"

// MaskInspect masks a `docker inspect` document: env values with secret
// keys, secrets on command lines (Path, Args, Cmd, Entrypoint, the health
// check's Test), and drops the labels named (cjob's spec label holds the
// env unmasked). It returns the document indented.
func MaskInspect(raw []byte, dropLabels ...string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if cfg, ok := doc["Config"].(map[string]any); ok {
		if env, ok := cfg["Env"].([]any); ok {
			cfg["Env"] = MaskEnv(anyStrings(env))
		}
		if labels, ok := cfg["Labels"].(map[string]any); ok {
			for _, l := range dropLabels {
				delete(labels, l)
			}
		}
		for _, k := range []string{"Cmd", "Entrypoint"} {
			if list, ok := cfg[k].([]any); ok {
				cfg[k] = MaskArgs(anyStrings(list))
			}
		}
		if hc, ok := cfg["Healthcheck"].(map[string]any); ok {
			if list, ok := hc["Test"].([]any); ok {
				hc["Test"] = MaskArgs(anyStrings(list))
			}
		}
	}
	if list, ok := doc["Args"].([]any); ok {
		doc["Args"] = MaskArgs(anyStrings(list))
	}
	if p, ok := doc["Path"].(string); ok {
		doc["Path"] = MaskArgs([]string{p})[0]
	}
	return json.MarshalIndent(doc, "", "  ")
}

func anyStrings(list []any) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
