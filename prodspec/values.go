package prodspec

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Names of projects, services, jobs and environments are DNS labels:
// lowercase letters, digits and '-', starting and ending with a letter or
// digit, at most 63 characters. Host names may also be dotted, like DNS
// names.
var (
	labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	dnsRE   = regexp.MustCompile(`^(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`)
)

// checkName reports whether s is a valid name of the given kind ("service",
// "job", ...), with an error explaining the rule when not.
func checkName(kind, s string) error {
	if labelRE.MatchString(s) {
		return nil
	}
	return fmt.Errorf("invalid %s name %q: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", kind, s)
}

// checkHostName reports whether s is a valid host name.
func checkHostName(s string) error {
	if len(s) <= 253 && hostRE.MatchString(s) {
		return nil
	}
	return fmt.Errorf("invalid host name %q: use lowercase letters, digits, '-' and '.'", s)
}

// checkEnvKey reports whether s may be an environment variable name.
func checkEnvKey(s string) error {
	if s == "" || strings.ContainsAny(s, "= \t\r\n\x00") {
		return fmt.Errorf("invalid environment variable name %q", s)
	}
	return nil
}

// Image references, after github.com/distribution/reference.
var (
	pathComponentRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	domainComponentRE = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$`)
	portRE            = regexp.MustCompile(`^[0-9]+$`)
	tagRE             = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRE          = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$`)
)

// isRegistryHost reports whether the first component of an image name names
// a registry host rather than a Docker Hub user: it has a '.' or a ':', or
// is localhost.
func isRegistryHost(component string) bool {
	return strings.ContainsAny(component, ".:") || component == "localhost"
}

// withRegistry prefixes image with registry unless registry is empty or the
// image already names a registry host.
func withRegistry(registry, image string) string {
	if registry == "" {
		return image
	}
	if first, _, ok := strings.Cut(image, "/"); ok && isRegistryHost(first) {
		return image
	}
	return registry + "/" + image
}

// checkImage reports whether ref is a valid image reference:
// [host[:port]/]path[:tag][@digest].
func checkImage(ref string) error {
	if ref == "" {
		return errors.New("empty image")
	}
	if strings.ContainsAny(ref, " \t\r\n") {
		return fmt.Errorf("invalid image %q: contains whitespace", ref)
	}
	name := ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		if !digestRE.MatchString(name[i+1:]) {
			return fmt.Errorf("invalid image %q: bad digest %q", ref, name[i+1:])
		}
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		if !tagRE.MatchString(name[i+1:]) {
			return fmt.Errorf("invalid image %q: bad tag %q", ref, name[i+1:])
		}
		name = name[:i]
	}
	if len(name) > 255 {
		return fmt.Errorf("invalid image %q: name longer than 255 characters", ref)
	}
	parts := strings.Split(name, "/")
	if len(parts) > 1 && isRegistryHost(parts[0]) {
		if err := checkRegistryHost(parts[0]); err != nil {
			return fmt.Errorf("invalid image %q: %v", ref, err)
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		if !pathComponentRE.MatchString(p) {
			if strings.ToLower(p) != p {
				return fmt.Errorf("invalid image %q: repository names must be lowercase", ref)
			}
			return fmt.Errorf("invalid image %q: bad name component %q", ref, p)
		}
	}
	return nil
}

// checkRegistryHost checks a registry host[:port].
func checkRegistryHost(h string) error {
	host, port, hasPort := strings.Cut(h, ":")
	if hasPort && !portRE.MatchString(port) {
		return fmt.Errorf("bad registry port %q", port)
	}
	for _, c := range strings.Split(host, ".") {
		if !domainComponentRE.MatchString(c) {
			return fmt.Errorf("bad registry host %q", h)
		}
	}
	return nil
}

// checkRegistry checks the file's registry: a registry host, optionally
// followed by a path (docker-registry:5000, registry.example.com/team).
func checkRegistry(r string) error {
	first, rest, _ := strings.Cut(r, "/")
	if !isRegistryHost(first) {
		return fmt.Errorf("invalid registry %q: the first part must be a host with a '.' or a port, or localhost (docker would read %q as a Docker Hub user)", r, first+"/image")
	}
	if err := checkRegistryHost(first); err != nil {
		return fmt.Errorf("invalid registry %q: %v", r, err)
	}
	if rest != "" {
		for _, p := range strings.Split(rest, "/") {
			if !pathComponentRE.MatchString(p) {
				return fmt.Errorf("invalid registry %q: bad path component %q", r, p)
			}
		}
	}
	return nil
}

// windowsPath is a volume source given as a Windows path (C:\src or C:/src).
var windowsPath = regexp.MustCompile(`^[a-zA-Z]:[\\/]`)

// volumeNameRE is Docker's rule for named volumes.
var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ParseVolume parses "source:target[:ro|:rw]". The source is an absolute
// path on the host or a volume name; the target is an absolute path in the
// container.
func ParseVolume(s string) (Volume, error) {
	if windowsPath.MatchString(s) {
		return Volume{}, fmt.Errorf("invalid volume %q: the source is a Windows path, but production hosts run Linux: name the path on the production host (/srv/data:/data), and cjob dev maps it to a named volume on any machine", s)
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Volume{}, fmt.Errorf("invalid volume %q: want source:target or source:target:ro", s)
	}
	v := Volume{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return Volume{}, fmt.Errorf("invalid volume %q: unknown mode %q (use ro or rw)", s, parts[2])
		}
	}
	if !strings.HasPrefix(v.Source, "/") && !volumeNameRE.MatchString(v.Source) {
		return Volume{}, fmt.Errorf("invalid volume %q: the source must be an absolute path or a volume name", s)
	}
	if !strings.HasPrefix(v.Target, "/") {
		return Volume{}, fmt.Errorf("invalid volume %q: the target must be an absolute path", s)
	}
	return v, nil
}

// String formats v as ParseVolume reads it.
func (v Volume) String() string {
	s := v.Source + ":" + v.Target
	if v.ReadOnly {
		s += ":ro"
	}
	return s
}
