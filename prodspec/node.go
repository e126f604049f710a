package prodspec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decoder turns yaml.v3 nodes into File values, collecting every error with
// its position. Every node is reached through decoder.node, which follows
// aliases and counts work so that alias bombs stop early.
type decoder struct {
	reporter
	suggest  suggester
	tmpl     *templater // nil while reading project and vars, which are not templates
	registry string     // prefix for images; "" for none
	work     int        // nodes visited
	maxWork  int        // visits allowed before giving up on aliases
}

// entry is one key and value of a mapping, aliases resolved.
type entry struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

// pos returns a node's position.
func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// join appends a key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

var nullNode = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}

// node follows aliases and counts the visit. Once the file has made the
// decoder visit far more nodes than it holds (by nesting aliases), decoding
// stops with one error and node returns null.
func (d *decoder) node(n *yaml.Node) *yaml.Node {
	if d.closed {
		return nullNode
	}
	d.work++
	for n != nil && n.Kind == yaml.AliasNode {
		if d.work > d.maxWork {
			d.errorAt(pos(n), "", "document contains excessive aliasing")
			d.closed = true
			return nullNode
		}
		n = n.Alias
	}
	if n == nil {
		return nullNode
	}
	return n
}

// isNull reports whether n is an absent value (null or ~ or nothing).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind for messages: "a list", "a string", ...
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "a document"
}

// wrongType reports a value of the wrong kind.
func (d *decoder) wrongType(n *yaml.Node, path, want string) {
	d.errorAt(pos(n), path, "want %s, got %s", want, describe(n))
}

// mapping checks that n is a mapping and returns its entries in order,
// reporting non-string and duplicate keys. A null n is an empty mapping.
// Merge keys (<<: *defaults) are honoured: their entries come after the
// mapping's own and never override them.
func (d *decoder) mapping(n *yaml.Node, path string) ([]entry, bool) {
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.wrongType(n, path, "a mapping")
		return nil, false
	}
	var (
		out    = make([]entry, 0, len(n.Content)/2)
		merged []entry
		seen   map[string]int // index in out, for big mappings only
	)
	if len(n.Content) > 2*smallMapping {
		seen = make(map[string]int, len(n.Content)/2)
	}
	// find returns the index in out of a key, or -1.
	find := func(key string) int {
		if seen != nil {
			if i, ok := seen[key]; ok {
				return i
			}
			return -1
		}
		for i := range out {
			if out[i].key == key {
				return i
			}
		}
		return -1
	}
	add := func(e entry) {
		if seen != nil {
			seen[e.key] = len(out)
		}
		out = append(out, e)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.node(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(d.node(v), path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorAt(pos(k), path, "keys must be strings, got %s", describe(k))
			continue
		}
		if first := find(k.Value); first >= 0 {
			d.errorAt(pos(k), join(path, k.Value), "duplicate key %q", k.Value).Hint =
				fmt.Sprintf("first defined at line %d", out[first].k.Line)
			continue
		}
		add(entry{key: k.Value, k: k, v: d.node(v)})
	}
	if len(merged) > 0 && seen == nil && len(out)+len(merged) > smallMapping {
		seen = make(map[string]int, len(out)+len(merged))
		for i, e := range out {
			seen[e.key] = i
		}
	}
	for _, e := range merged {
		if find(e.key) < 0 {
			add(e)
		}
	}
	return out, true
}

// smallMapping is the size up to which mapping finds duplicate keys by
// scanning rather than with a map.
const smallMapping = 16

// merge returns the entries a merge key brings in: those of one mapping, or
// of a list of mappings where earlier ones win.
func (d *decoder) merge(v *yaml.Node, path string) []entry {
	switch v.Kind {
	case yaml.MappingNode:
		es, _ := d.mapping(v, path)
		return es
	case yaml.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, item := range v.Content {
			item = d.node(item)
			if item.Kind != yaml.MappingNode {
				d.wrongType(item, path, "a mapping to merge")
				continue
			}
			es, _ := d.mapping(item, path)
			for _, e := range es {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	d.wrongType(v, path, "a mapping or a list of mappings to merge")
	return nil
}

// fields decodes a mapping with a fixed set of keys. Unknown keys are
// errors with a suggestion, except keys starting with "x-", which are free
// for YAML anchors and notes, as in Compose files. Keys whose value is null
// are left out: "image:" with nothing is the same as no image key.
func (d *decoder) fields(n *yaml.Node, path string, known []string) (map[string]entry, bool) {
	es, ok := d.mapping(n, path)
	if !ok {
		return nil, false
	}
	out := make(map[string]entry, len(es))
	for _, e := range es {
		if !contains(known, e.key) {
			if strings.HasPrefix(e.key, "x-") {
				continue
			}
			err := d.errorAt(pos(e.k), path, "unknown key %q", e.key)
			if hint := d.suggest.didYouMean(e.key, known); hint != "" {
				err.Hint = hint
			} else if where := keyHome(e.key); where != "" {
				err.Hint = fmt.Sprintf("%s is %s key; keys here: %s", e.key, where, strings.Join(known, ", "))
			} else {
				err.Hint = "known keys: " + strings.Join(known, ", ")
			}
			continue
		}
		if isNull(e.v) {
			continue
		}
		out[e.key] = e
	}
	return out, true
}

// keyHome says what kind of mapping a key that is unknown in one place
// belongs to ("a job"), or "".
func keyHome(key string) string {
	switch {
	case contains(jobKeys, key):
		return "a job"
	case contains(fileKeys, key):
		return "a top-level"
	case contains(hostKeys, key):
		return "a host"
	case contains(environmentKeys, key):
		return "an environment"
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalar returns the text of a scalar value, rendered as a template when
// templates are on. Numbers and bools are returned as written.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.wrongType(n, path, want)
		return "", false
	}
	s := n.Value
	if d.tmpl != nil {
		out, err := d.tmpl.render(s)
		if err != nil {
			te := err.(*templateError)
			d.errorAt(pos(n), path, "%s", te.msg).Hint = te.hint
			return "", false
		}
		s = out
	}
	if !utf8.ValidString(s) {
		d.errorAt(pos(n), path, "not valid UTF-8")
		return "", false
	}
	return s, true
}

// str decodes a string. Any scalar but null is accepted as written.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	return d.scalar(n, path, "a string")
}

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := d.scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.errorAt(pos(n), path, "want true or false, got %q", s)
	return false, false
}

// integer decodes a whole number; a string of digits is accepted.
func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	s, ok := d.scalar(n, path, "a whole number")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		d.errorAt(pos(n), path, "want a whole number, got %q", s)
		return 0, false
	}
	return v, true
}

// port decodes a port, 1 to 65535, written as a number or a string.
func (d *decoder) port(n *yaml.Node, path string) (int, bool) {
	s, ok := d.scalar(n, path, "a port number")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		d.errorAt(pos(n), path, "invalid port %q: want a number from 1 to 65535", s)
		return 0, false
	}
	if v < 1 || v > 65535 {
		d.errorAt(pos(n), path, "port %d out of range 1-65535", v)
		return 0, false
	}
	return v, true
}

// size decodes a memory size such as 512MiB (see ParseSize).
func (d *decoder) size(n *yaml.Node, path string) (int64, bool) {
	s, ok := d.scalar(n, path, "a size like 512MiB")
	if !ok {
		return 0, false
	}
	v, err := ParseSize(s)
	if err != nil {
		d.errorAt(pos(n), path, "%v", err).Hint = "sizes look like 512MiB, 1GiB, 512M or 100k"
		return 0, false
	}
	return v, true
}

// duration decodes a non-negative duration such as 2s or 500ms.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.scalar(n, path, "a duration like 2s")
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		e := d.errorAt(pos(n), path, "invalid duration %q", s)
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			e.Hint = fmt.Sprintf("add a unit, e.g. %ss", s)
		} else {
			e.Hint = "durations look like 2s, 500ms or 1m30s"
		}
		return 0, false
	}
	if v < 0 {
		d.errorAt(pos(n), path, "negative duration %q", s)
		return 0, false
	}
	return v, true
}

// strList decodes a list of strings; a single string is a list of one.
func (d *decoder) strList(n *yaml.Node, path string) ([]string, []*yaml.Node, bool) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		s, ok := d.str(n, path)
		if !ok {
			return nil, nil, false
		}
		return []string{s}, []*yaml.Node{n}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.wrongType(n, path, "a list")
		return nil, nil, false
	}
	out := make([]string, 0, len(n.Content))
	nodes := make([]*yaml.Node, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		item = d.node(item)
		s, good := d.str(item, index(path, i))
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
		nodes = append(nodes, item)
	}
	return out, nodes, ok
}

// words decodes a command: a list of strings, or one string split into
// words by SplitWords.
func (d *decoder) words(n *yaml.Node, path string) ([]string, bool) {
	var out []string
	switch n.Kind {
	case yaml.ScalarNode:
		s, ok := d.str(n, path)
		if !ok {
			return nil, false
		}
		w, err := SplitWords(s)
		if err != nil {
			d.errorAt(pos(n), path, "%v", err)
			return nil, false
		}
		out = w
	case yaml.SequenceNode:
		l, _, ok := d.strList(n, path)
		if !ok {
			return nil, false
		}
		out = l
	default:
		d.wrongType(n, path, "a list or a string")
		return nil, false
	}
	if len(out) == 0 {
		d.errorAt(pos(n), path, "empty command").Hint = "leave the key out to use the image's default"
		return nil, false
	}
	return out, true
}

// strMap decodes a mapping of strings to strings; numbers and bools are
// kept as written. An empty mapping is nil. checkKey, if not nil, checks
// each key.
func (d *decoder) strMap(n *yaml.Node, path string, checkKey func(string) error) (map[string]string, bool) {
	es, ok := d.mapping(n, path)
	if !ok {
		return nil, false
	}
	if len(es) == 0 {
		return nil, true
	}
	out := make(map[string]string, len(es))
	for _, e := range es {
		p := join(path, e.key)
		if checkKey != nil {
			if err := checkKey(e.key); err != nil {
				d.errorAt(pos(e.k), p, "%v", err)
				ok = false
				continue
			}
		}
		if isNull(e.v) {
			d.errorAt(pos(e.v), p, "%s has no value", e.key).Hint = fmt.Sprintf(`write %s: "" for an empty string`, e.key)
			ok = false
			continue
		}
		s, good := d.scalar(e.v, p, "a string, number or bool")
		if !good {
			ok = false
			continue
		}
		out[e.key] = s
	}
	return out, ok
}
