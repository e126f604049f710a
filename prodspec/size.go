package prodspec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Binary size units.
const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
)

// ParseSize parses a memory size. A size is a number, optionally with a
// fraction, followed by an optional unit: k, m, g, t or p, each optionally
// followed by "b", "i" or "ib" (512MiB, 1GiB, 512M, 1g, 100k, 256Mi, 1.5GiB).
// Units are case-insensitive and always binary (1k = 1024 bytes), as in
// `docker run --memory`. A plain number is bytes. Fractions of a byte are
// dropped.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	// Split the number from the unit.
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" || num[0] == '.' || num[len(num)-1] == '.' || strings.Count(num, ".") > 1 {
		return 0, fmt.Errorf("invalid size %q: want a number and a unit, like 512MiB", s)
	}
	var mult int64
	switch strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i") {
	case "":
		mult = 1
		if unit == "ib" {
			mult = 0
		}
	case "k":
		mult = KiB
	case "m":
		mult = MiB
	case "g":
		mult = GiB
	case "t":
		mult = TiB
	case "p":
		mult = PiB
	}
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use k, M, G, T or P, optionally with B or iB)", s, t[i:])
	}
	if strings.Contains(num, ".") {
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid size %q", s)
		}
		b := v * float64(mult)
		if b >= math.MaxInt64/2 {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return int64(b), nil
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v > (math.MaxInt64/2)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return v * mult, nil
}

// FormatSize formats n bytes in the largest binary unit that divides it
// exactly (1GiB, 512MiB, 100KiB), or as a plain number of bytes.
// ParseSize(FormatSize(n)) == n.
func FormatSize(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		size int64
		name string
	}{{PiB, "PiB"}, {TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
