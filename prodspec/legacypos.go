package prodspec

import "unicode/utf8"

// textMsg is a message in a protobuf text file, reduced to where each of
// its fields was written. prototext does the real parsing but keeps no
// positions; this scan finds them so that errors found after parsing (a
// bad port, an unknown dependency) can point into the file. It only runs
// on text prototext has accepted, and never fails.
type textMsg struct {
	fields map[string][]textField // by field name, in file order
}

// textField is one occurrence of a field: one element of a repeated field.
type textField struct {
	name Pos      // the field name
	val  Pos      // the value, or the opening < or {
	msg  *textMsg // the value when it is a message
}

// at returns the value position of the k-th occurrence of a field, or
// def.
func (m *textMsg) at(field string, k int, def Pos) Pos {
	if m == nil || k >= len(m.fields[field]) {
		return def
	}
	return m.fields[field][k].val
}

// sub returns the message value of the k-th occurrence of a field, or nil.
func (m *textMsg) sub(field string, k int) *textMsg {
	if m == nil || k >= len(m.fields[field]) {
		return nil
	}
	return m.fields[field][k].msg
}

// textTok is a token of a protobuf text file: a punctuation character, a
// string ('s') or any other word ('w').
type textTok struct {
	kind byte
	pos  Pos
	text string // for words
}

// scanText finds the field positions of a protobuf text file.
func scanText(data []byte) *textMsg {
	p := &textParser{toks: tokenizeText(data)}
	return p.message(0)
}

// tokenizeText splits a protobuf text file into tokens, skipping blanks and
// # comments.
func tokenizeText(data []byte) []textTok {
	var (
		toks      []textTok
		line, col = 1, 1
	)
	advance := func(b byte) {
		if b == '\n' {
			line, col = line+1, 1
		} else if utf8.RuneStart(b) {
			col++
		}
	}
	isPunct := func(b byte) bool {
		switch b {
		case ':', '<', '>', '{', '}', '[', ']', ',', ';':
			return true
		}
		return false
	}
	for i := 0; i < len(data); {
		b := data[i]
		switch {
		case b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f':
			advance(b)
			i++
		case b == '#':
			for i < len(data) && data[i] != '\n' {
				advance(data[i])
				i++
			}
		case isPunct(b):
			toks = append(toks, textTok{kind: b, pos: Pos{line, col}})
			advance(b)
			i++
		case b == '"' || b == '\'':
			toks = append(toks, textTok{kind: 's', pos: Pos{line, col}})
			advance(b)
			i++
			for i < len(data) && data[i] != b && data[i] != '\n' {
				if data[i] == '\\' && i+1 < len(data) && data[i+1] != '\n' {
					advance(data[i])
					i++
				}
				advance(data[i])
				i++
			}
			if i < len(data) && data[i] == b {
				advance(b)
				i++
			}
		default:
			start, at := i, Pos{line, col}
			for i < len(data) {
				c := data[i]
				if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#' || c == '"' || c == '\'' || isPunct(c) {
					break
				}
				advance(c)
				i++
			}
			toks = append(toks, textTok{kind: 'w', pos: at, text: string(data[start:i])})
		}
	}
	return toks
}

type textParser struct {
	toks []textTok
	i    int
}

// peek returns the kind of the next token, or 0 at the end.
func (p *textParser) peek() byte {
	if p.i < len(p.toks) {
		return p.toks[p.i].kind
	}
	return 0
}

// message reads fields up to the closing token end (0: the end of the
// file) and consumes it.
func (p *textParser) message(end byte) *textMsg {
	m := &textMsg{fields: map[string][]textField{}}
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		switch t.kind {
		case end:
			p.i++
			return m
		case 'w':
			p.i++
			name := t.text
			if p.peek() == ':' {
				p.i++
			}
			p.value(m, name, t.pos)
		case '[': // an extension or Any type name: skip it and its value
			for p.i < len(p.toks) && p.toks[p.i].kind != ']' {
				p.i++
			}
			p.i++
			if p.peek() == ':' {
				p.i++
			}
			p.value(nil, "", t.pos)
		case '>', '}':
			if end == 0 { // stray closer: cannot happen in accepted text
				p.i++
				continue
			}
			p.i++
			return m
		default:
			p.i++
		}
	}
	return m
}

// value reads one field value (a list counts as one value per element) and
// records it in m under name.
func (p *textParser) value(m *textMsg, name string, at Pos) {
	add := func(f textField) {
		if m != nil {
			m.fields[name] = append(m.fields[name], f)
		}
	}
	if p.i >= len(p.toks) {
		return
	}
	t := p.toks[p.i]
	switch t.kind {
	case '<', '{':
		p.i++
		closer := byte('>')
		if t.kind == '{' {
			closer = '}'
		}
		add(textField{name: at, val: t.pos, msg: p.message(closer)})
	case '[':
		p.i++
		for p.i < len(p.toks) && p.toks[p.i].kind != ']' {
			if p.toks[p.i].kind == ',' {
				p.i++
				continue
			}
			before := p.i
			p.value(m, name, at)
			if p.i == before {
				p.i++
			}
		}
		p.i++
	case 's':
		for p.peek() == 's' { // adjacent strings are one value
			p.i++
		}
		add(textField{name: at, val: t.pos})
	case 'w':
		p.i++
		add(textField{name: at, val: t.pos})
	}
}
