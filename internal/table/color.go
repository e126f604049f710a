package table

// Palette colors strings with ANSI SGR sequences. Each function closes only
// its own attribute (e.g. Green ends with "default foreground", Bold with
// "normal intensity"), so they nest: p.Bold(p.Red("x")).
//
// A disabled palette's functions return s unchanged. Deciding whether color
// is wanted (a terminal, NO_COLOR unset, a --color flag) is the caller's job.
type Palette struct {
	Enabled bool

	Green  func(s string) string
	Red    func(s string) string
	Yellow func(s string) string
	Blue   func(s string) string
	Cyan   func(s string) string
	Dim    func(s string) string
	Bold   func(s string) string
}

// Color returns a palette that colors when enabled is true and returns
// strings unchanged otherwise.
func Color(enabled bool) Palette {
	if !enabled {
		id := func(s string) string { return s }
		return Palette{Green: id, Red: id, Yellow: id, Blue: id, Cyan: id, Dim: id, Bold: id}
	}
	return Palette{
		Enabled: true,
		Green:   sgr("32", "39"),
		Red:     sgr("31", "39"),
		Yellow:  sgr("33", "39"),
		Blue:    sgr("34", "39"),
		Cyan:    sgr("36", "39"),
		Dim:     sgr("2", "22"),
		Bold:    sgr("1", "22"),
	}
}

func sgr(on, off string) func(string) string {
	on, off = "\x1b["+on+"m", "\x1b["+off+"m"
	return func(s string) string {
		if s == "" {
			return ""
		}
		return on + s + off
	}
}
