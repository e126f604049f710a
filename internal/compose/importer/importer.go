// Package importer turns a Docker Compose project into a cjob jobs file
// (`cjob import compose.yml [-f more.yml]`).
//
// compose-go loads the project exactly as `docker compose` would (override
// files, .env and interpolation, env_file, extends, profiles); Import then
// maps every service to a cjob service with one job of the same name, on a
// host of its own named after the service, so that the service names the
// Compose files use as addresses (http://api:8000) still resolve in
// `cjob dev`. Everything Compose says that a jobs file cannot is reported
// as a warning naming the service and the key; nothing is dropped silently.
package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/cjob/cjob/prodspec"
)

// Options say which Compose project to import.
type Options struct {
	Files       []string          // compose files, the first is the main one; later ones override (like docker compose -f a -f b)
	WorkingDir  string            // default: dir of the first file
	Env         map[string]string // extra interpolation variables, over the OS environment and .env
	Profiles    []string          // active profiles
	ProjectName string            // default: compose-go's (the name: key, else the dir name), made into [a-z0-9-]
}

// Result is an imported jobs file.
type Result struct {
	YAML     []byte   // the jobs file, in cjob's YAML format, loadable by prodspec.Parse
	Warnings []string // every Compose feature with no jobs-file equivalent, one line each: "<service>: <key>: ..."
}

// Import loads the Compose files of opts and returns the equivalent jobs
// file. A Compose file compose-go rejects is an error naming the file(s):
// "import compose.yml: ...".
func Import(ctx context.Context, opts Options) (*Result, error) {
	if len(opts.Files) == 0 {
		return nil, errors.New("import: no compose file given")
	}
	label := "import " + strings.Join(opts.Files, ", ")
	project, err := load(ctx, opts)
	if err != nil {
		if bad := syntaxErrorFile(opts.Files); bad != "" && len(opts.Files) > 1 && !strings.Contains(err.Error(), bad) {
			return nil, fmt.Errorf("%s: %s: %w", label, bad, err)
		}
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	c := &converter{project: project, opts: opts}
	f, header := c.convert()
	body, err := prodspec.Render(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	var out bytes.Buffer
	for _, line := range header {
		out.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	out.Write(body)
	// The result must load: a Compose value the jobs file cannot hold (an
	// image reference Docker would reject, say) is reported here rather than
	// at the user's first `cjob dev up`.
	if _, err := prodspec.Parse("imported.yml", out.Bytes(), prodspec.LoadOptions{}); err != nil {
		return nil, fmt.Errorf("%s: the converted jobs file does not load:\n%w", label, err)
	}
	sort.Strings(c.warnings)
	return &Result{YAML: out.Bytes(), Warnings: slices.Compact(c.warnings)}, nil
}

func load(ctx context.Context, opts Options) (*types.Project, error) {
	env := make([]string, 0, len(opts.Env))
	for k, v := range opts.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(opts.WorkingDir),
		cli.WithEnv(env),
		cli.WithOsEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithProfiles(opts.Profiles),
	}
	if opts.ProjectName != "" {
		fns = append(fns, cli.WithName(ProjectName(opts.ProjectName)))
	}
	po, err := cli.NewProjectOptions(opts.Files, fns...)
	if err != nil {
		return nil, err
	}
	return po.LoadProject(ctx)
}

// syntaxErrorFile names the first of files that is not valid YAML: YAML
// syntax errors from compose-go do not say which file they are in.
func syntaxErrorFile(files []string) string {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var v any
		if yaml.Unmarshal(data, &v) != nil {
			return f
		}
	}
	return ""
}

var nonLabel = regexp.MustCompile(`[^a-z0-9]+`)

// ProjectName makes s a valid jobs-file project (or service) name:
// lowercase letters, digits and '-', starting and ending with a letter or
// digit, at most 63 characters; "compose" when nothing is left.
func ProjectName(s string) string {
	s = nonLabel.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		return "compose"
	}
	return s
}

type converter struct {
	project  *types.Project
	opts     Options
	warnings []string
	names    map[string]string // compose service name -> cjob service name
	hosts    map[string]bool
}

func (c *converter) warn(service, key, format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf("%s: %s: %s", service, key, fmt.Sprintf(format, args...)))
}

func (c *converter) convert() (*prodspec.File, []string) {
	p := c.project
	f := &prodspec.File{Project: ProjectName(p.Name), DNSSuffix: prodspec.DefaultDNSSuffix}
	files := make([]string, len(c.opts.Files))
	for i, fn := range c.opts.Files {
		files[i] = filepath.Base(fn)
	}
	header := []string{
		"Imported from " + strings.Join(files, " + ") + " by `cjob import`.",
		"Each Compose service runs on a host of its own, named after the service, so",
		"the service names the Compose files use as addresses still resolve. Hosts",
		"are production machines: merge them by hand (and set address/docker).",
	}

	names := p.ServiceNames() // sorted
	c.names = map[string]string{}
	taken := map[string]string{}
	for _, n := range names {
		cn := ProjectName(n)
		if other, ok := taken[cn]; ok {
			for i := 2; ; i++ {
				if _, ok := taken[cn+"-"+strconv.Itoa(i)]; !ok {
					cn += "-" + strconv.Itoa(i)
					break
				}
			}
			c.warn(n, "name", "renamed %s (services %q and %q give the same jobs-file name)", cn, other, n)
		} else if cn != n {
			c.warn(n, "name", "renamed %s (jobs-file names are lowercase letters, digits and '-'); addresses using %q in env must be changed by hand", cn, n)
		}
		taken[cn] = n
		c.names[n] = cn
	}
	c.hosts = map[string]bool{}
	for _, cn := range c.names {
		c.hosts[cn] = true
	}

	var builds []string
	oneshot := map[string]bool{}
	jobs := map[string]*prodspec.Job{}
	for _, n := range names {
		s := p.Services[n]
		j := c.job(f.Project, s, oneshot)
		jobs[n] = j
		f.Services = append(f.Services, &prodspec.Service{Name: j.Service, Jobs: []*prodspec.Job{j}})
		if s.Build != nil {
			builds = append(builds, fmt.Sprintf("  cjob dev swap %s %s", j.Service, c.rel(s.Build.Context)))
		}
	}
	for n := range oneshot {
		if j, ok := jobs[n]; ok {
			j.Oneshot = true
		}
	}
	for h := range c.hosts {
		f.Hosts = append(f.Hosts, &prodspec.Host{Name: h})
	}
	slices.SortFunc(f.Hosts, func(a, b *prodspec.Host) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(f.Services, func(a, b *prodspec.Service) int { return strings.Compare(a.Name, b.Name) })

	disabled := make([]string, 0, len(p.DisabledServices))
	for n := range p.DisabledServices {
		disabled = append(disabled, n)
	}
	sort.Strings(disabled)
	for _, n := range disabled {
		c.warn(n, "profiles", "not imported: in profiles %s, none of them active (pass --profile)", strings.Join(p.DisabledServices[n].Profiles, ", "))
	}
	c.projectWarnings()

	if len(builds) > 0 {
		header = append(header, "",
			"Services built from source (build:) use a placeholder image <project>-<service>:dev;",
			"build and run them from their source folder with:")
		header = append(header, builds...)
	}
	header = append(header, "")
	return f, header
}

// rel is path relative to the working directory when it is inside it.
func (c *converter) rel(path string) string {
	if r, err := filepath.Rel(c.project.WorkingDir, path); err == nil && !strings.HasPrefix(r, "..") {
		if r == "." {
			return "."
		}
		return "./" + filepath.ToSlash(r)
	}
	return path
}

// handled are the service keys job maps (fully, or with its own warnings);
// every other key with a value is reported by leftovers.
var handled = map[string]bool{
	"image": true, "build": true, "command": true, "entrypoint": true,
	"environment": true, "env_file": true, "ports": true, "expose": true,
	"volumes": true, "depends_on": true, "healthcheck": true,
	"mem_limit": true, "deploy": true, "scale": true, "networks": true,
	"profiles": true, "tmpfs": true, "links": true, "volumes_from": true,
}

func (c *converter) job(project string, s types.ServiceConfig, oneshot map[string]bool) *prodspec.Job {
	n := s.Name
	cn := c.names[n]
	j := &prodspec.Job{Service: cn, Name: cn}

	// image, build
	j.Image = s.Image
	if s.Build != nil {
		if j.Image == "" {
			j.Image = project + "-" + cn + ":dev"
			c.warn(n, "build", "built from %s: image is the placeholder %s; run `cjob dev swap %s %s` to build and run it", c.rel(s.Build.Context), j.Image, cn, c.rel(s.Build.Context))
		} else {
			c.warn(n, "build", "built from %s and tagged %s: cjob pulls the image; run `cjob dev swap %s %s` to build it instead", c.rel(s.Build.Context), j.Image, cn, c.rel(s.Build.Context))
		}
		if len(s.Build.Args) > 0 || s.Build.Target != "" || len(s.Build.Secrets) > 0 {
			c.warn(n, "build", "build args, target and secrets are not imported; cjob dev swap builds the folder's Dockerfile as it is")
		}
	}
	if j.Image == "" {
		j.Image = project + "-" + cn + ":dev"
		c.warn(n, "image", "no image and no build: using the placeholder %s", j.Image)
	}

	// command, entrypoint
	if s.Command != nil {
		if len(s.Command) == 0 {
			c.warn(n, "command", "an empty command (clearing the image's) has no jobs-file equivalent: the image's default is used")
		} else {
			j.Command = slices.Clone([]string(s.Command))
		}
	}
	if s.Entrypoint != nil {
		if len(s.Entrypoint) == 0 {
			c.warn(n, "entrypoint", "an empty entrypoint (clearing the image's) has no jobs-file equivalent: the image's default is used")
		} else {
			j.Entrypoint = slices.Clone([]string(s.Entrypoint))
		}
	}

	c.ports(n, s, j)
	c.env(n, s, j)
	c.volumes(n, s, j)
	c.dependsOn(n, s, j, oneshot)
	j.Health = c.health(n, s, j)
	c.memory(n, s, j)

	// tasks: one per replica, each on a host of its own
	replicas, rkey := 1, "scale"
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		replicas, rkey = *s.Deploy.Replicas, "deploy.replicas"
	}
	if s.Scale != nil {
		replicas, rkey = *s.Scale, "scale"
	}
	if replicas < 1 {
		c.warn(n, rkey, "%d replicas: imported with one task (exclude the job in an environment instead)", replicas)
		replicas = 1
	}
	j.Tasks = []*prodspec.Task{{Index: 0, Host: cn}}
	for i := 2; i <= replicas; i++ {
		h := cn + "-" + strconv.Itoa(i)
		for c.hosts[h] {
			h += "-r"
		}
		c.hosts[h] = true
		j.Tasks = append(j.Tasks, &prodspec.Task{Index: i - 1, Host: h})
	}

	if len(s.Networks) > 0 {
		var custom []string
		for _, net := range sortedKeys(s.Networks) {
			cfg := s.Networks[net]
			if net != "default" {
				custom = append(custom, net)
			}
			if cfg != nil && (len(cfg.Aliases) > 0 || cfg.Ipv4Address != "" || cfg.Ipv6Address != "" || len(cfg.LinkLocalIPs) > 0 || cfg.MacAddress != "" || len(cfg.DriverOpts) > 0) {
				c.warn(n, "networks."+net, "aliases, fixed addresses and driver options are not imported: in cjob the service is reachable as %s", cn)
			}
		}
		if len(custom) > 0 {
			c.warn(n, "networks", "networks %s not imported: cjob puts every host on one project network", strings.Join(custom, ", "))
		}
	}
	if s.Deploy != nil {
		c.deploy(n, s.Deploy)
	}
	c.leftovers(n, s)
	return j
}

func (c *converter) ports(n string, s types.ServiceConfig, j *prodspec.Job) {
	seen := map[int]bool{}
	add := func(p int) {
		if p >= 1 && p <= 65535 && !seen[p] {
			seen[p] = true
			j.Ports = append(j.Ports, p)
		}
	}
	for _, p := range s.Ports {
		t := int(p.Target)
		spec := strconv.Itoa(t)
		if p.Published != "" {
			spec = p.Published + ":" + spec
		}
		if p.Protocol != "" && p.Protocol != "tcp" {
			c.warn(n, "ports", "%s/%s: only TCP ports are imported", spec, p.Protocol)
			continue
		}
		add(t)
		if p.Published != "" && p.Published != strconv.Itoa(t) {
			c.warn(n, "ports", "%s: published on host port %s in Compose; cjob dev publishes %d on 127.0.0.1 (the same port where free)", spec, p.Published, t)
		}
		if p.HostIP != "" && p.HostIP != "127.0.0.1" {
			c.warn(n, "ports", "%s: host_ip %s not imported: cjob dev publishes on 127.0.0.1", spec, p.HostIP)
		}
		if p.Mode != "" && p.Mode != "ingress" {
			c.warn(n, "ports", "%s: mode %s not imported", spec, p.Mode)
		}
		if p.Name != "" || p.AppProtocol != "" {
			c.warn(n, "ports", "%s: name and app_protocol not imported", spec)
		}
	}
	for _, e := range s.Expose {
		port, proto, _ := strings.Cut(e, "/")
		lo, hi, isRange := strings.Cut(port, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || (proto != "" && proto != "tcp") || b-a > 100 {
			c.warn(n, "expose", "%s not imported", e)
			continue
		}
		for p := a; p <= b; p++ {
			add(p)
		}
	}
}

func (c *converter) env(n string, s types.ServiceConfig, j *prodspec.Job) {
	for _, k := range sortedKeys(s.Environment) {
		v := s.Environment[k]
		if j.Env == nil {
			j.Env = map[string]string{}
		}
		if v == nil {
			c.warn(n, "environment", "%s has no value (unset when Compose loaded the file): imported as \"\"", k)
			j.Env[k] = ""
			continue
		}
		j.Env[k] = *v
	}
}

var hostConfigPaths = []string{"/etc", "/usr/share/zoneinfo", "/usr/share/ca-certificates"}

func (c *converter) volumes(n string, s types.ServiceConfig, j *prodspec.Job) {
	for _, t := range s.Tmpfs {
		c.warn(n, "tmpfs", "%s not imported (no tmpfs in the jobs file)", t)
	}
	for _, v := range s.Volumes {
		desc := v.String()
		if strings.Contains(v.Target, ":") || !strings.HasPrefix(v.Target, "/") {
			c.warn(n, "volumes", "%s not imported: target %q cannot be written in a jobs file", desc, v.Target)
			continue
		}
		switch v.Type {
		case types.VolumeTypeBind:
			src := v.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(c.project.WorkingDir, src)
			}
			src = filepath.ToSlash(filepath.Clean(src))
			if strings.Contains(src, ":") || !strings.HasPrefix(src, "/") {
				c.warn(n, "volumes", "%s not imported: source %q cannot be written in a jobs file", desc, src)
				continue
			}
			j.Volumes = append(j.Volumes, prodspec.Volume{Source: src, Target: v.Target, ReadOnly: v.ReadOnly})
			hostConfig := false
			for _, p := range hostConfigPaths {
				if src == p || strings.HasPrefix(src, p+"/") {
					hostConfig = true
				}
			}
			if !hostConfig {
				c.warn(n, "volumes", "bind mount %s:%s: cjob dev mounts an empty named volume in place of a host path (outside /etc), so these files are not there in dev; for source code use `cjob dev swap %s <folder> --watch`", c.rel(src), v.Target, j.Service)
			}
			if v.Bind != nil && (v.Bind.SELinux != "" || v.Bind.Propagation != "" || v.Bind.Recursive != "") {
				c.warn(n, "volumes", "%s: bind options (selinux, propagation, recursive) not imported", desc)
			}
		case types.VolumeTypeVolume:
			if v.Source == "" {
				c.warn(n, "volumes", "anonymous volume %s not imported: name it (name:%s) to keep its data", v.Target, v.Target)
				continue
			}
			j.Volumes = append(j.Volumes, prodspec.Volume{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
			if v.Volume != nil && (v.Volume.NoCopy || v.Volume.Subpath != "" || len(v.Volume.Labels) > 0) {
				c.warn(n, "volumes", "%s: volume options (nocopy, subpath, labels) not imported", desc)
			}
		default:
			c.warn(n, "volumes", "%s volume at %s not imported (the jobs file has bind mounts and named volumes only)", v.Type, v.Target)
		}
		if v.Consistency != "" {
			c.warn(n, "volumes", "%s: consistency %s not imported", desc, v.Consistency)
		}
	}
	if len(s.VolumesFrom) > 0 {
		c.warn(n, "volumes_from", "%s not imported: declare the volumes on this service", strings.Join(s.VolumesFrom, ", "))
	}
}

func (c *converter) dependsOn(n string, s types.ServiceConfig, j *prodspec.Job, oneshot map[string]bool) {
	for _, dep := range sortedKeys(s.DependsOn) {
		d := s.DependsOn[dep]
		cn, ok := c.names[dep]
		if !ok {
			c.warn(n, "depends_on", "%s not imported: the service is not imported (inactive profile?)", dep)
			continue
		}
		j.DependsOn = append(j.DependsOn, cn+"."+cn)
		switch d.Condition {
		case types.ServiceConditionCompletedSuccessfully:
			oneshot[dep] = true
		case types.ServiceConditionHealthy:
			if hc := c.project.Services[dep].HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
				c.warn(n, "depends_on", "%s: service_healthy, but %s declares no healthcheck in Compose (its image's HEALTHCHECK is not imported): cjob waits only for it to start", dep, dep)
			}
		}
		if d.Restart {
			c.warn(n, "depends_on", "%s: restart: true not imported", dep)
		}
		if !d.Required {
			c.warn(n, "depends_on", "%s: required: false not imported (cjob always starts dependencies)", dep)
		}
	}
	sort.Strings(j.DependsOn)
	j.DependsOn = slices.Compact(j.DependsOn)
	if len(s.Links) > 0 {
		c.warn(n, "links", "%s not imported: use depends_on and the service names", strings.Join(s.Links, ", "))
	}
}

func (c *converter) health(n string, s types.ServiceConfig, j *prodspec.Job) *prodspec.Health {
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil
	}
	h := &prodspec.Health{
		Interval:    prodspec.DefaultHealthInterval,
		Timeout:     prodspec.DefaultHealthTimeout,
		Retries:     prodspec.DefaultHealthRetries,
		StartPeriod: prodspec.DefaultHealthStartPeriod,
	}
	switch hc.Test[0] {
	case "CMD":
		h.Cmd = slices.Clone([]string(hc.Test[1:]))
	case "CMD-SHELL":
		h.Cmd = []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	default:
		c.warn(n, "healthcheck", "test %q not imported", []string(hc.Test))
		return nil
	}
	if len(h.Cmd) == 0 || (len(h.Cmd) == 3 && strings.TrimSpace(h.Cmd[2]) == "") {
		c.warn(n, "healthcheck", "empty test not imported")
		return nil
	}
	if path, ok := httpProbe(hc.Test, j.MainPort()); ok {
		h.Cmd, h.HTTP = nil, path
	}
	dur := func(key string, d *types.Duration, into *time.Duration) {
		if d != nil && *d > 0 {
			*into = time.Duration(*d)
		}
	}
	dur("interval", hc.Interval, &h.Interval)
	dur("timeout", hc.Timeout, &h.Timeout)
	if hc.StartPeriod != nil {
		h.StartPeriod = time.Duration(*hc.StartPeriod)
	}
	if hc.Retries != nil && *hc.Retries > 0 {
		h.Retries = int(min(*hc.Retries, 1<<20))
	}
	if hc.StartInterval != nil {
		c.warn(n, "healthcheck.start_interval", "not imported")
	}
	return h
}

var (
	probeURL   = regexp.MustCompile(`^https?://(?:localhost|127\.0\.0\.1|\[::1\]|0\.0\.0\.0)(?::(\d+))?(/[^\s?#]*)?$`)
	curlFlag   = regexp.MustCompile(`^(?:-[fsSL]+|--fail|--silent|--show-error|--location|--max-time=\d+)$`)
	wgetFlag   = regexp.MustCompile(`^(?:-q|-qO-|-O-|--spider|--quiet|--no-verbose|-nv|--tries=\d+|-T\d+|--timeout=\d+)$`)
	exitSuffix = regexp.MustCompile(`\s*\|\|\s*exit\s+1\s*$`)
)

// httpProbe recognises a health check that only fetches a URL on the job's
// main port (curl -f http://localhost:3000/health || exit 1, wget -q
// --spider ...) and returns its path: cjob makes such checks itself, which
// also works for images without curl.
func httpProbe(test []string, mainPort int) (string, bool) {
	if mainPort == 0 || len(test) < 2 {
		return "", false
	}
	var words []string
	switch test[0] {
	case "CMD":
		words = test[1:]
	case "CMD-SHELL":
		s := exitSuffix.ReplaceAllString(strings.Join(test[1:], " "), "")
		if strings.ContainsAny(s, "|&;<>$`\\\"'(){}*?") {
			return "", false
		}
		words = strings.Fields(s)
	}
	if len(words) < 2 {
		return "", false
	}
	var flag *regexp.Regexp
	fail := false
	switch words[0] {
	case "curl":
		flag = curlFlag
	case "wget":
		flag, fail = wgetFlag, true // wget fails on HTTP errors
	default:
		return "", false
	}
	url := ""
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case words[0] == "wget" && w == "-O" && i+1 < len(words) && (words[i+1] == "-" || words[i+1] == "/dev/null"):
			i++
		case flag.MatchString(w):
			if words[0] == "curl" && (w == "--fail" || (strings.HasPrefix(w, "-") && !strings.HasPrefix(w, "--") && strings.Contains(w, "f"))) {
				fail = true
			}
		case url == "" && probeURL.MatchString(w):
			url = w
		default:
			return "", false
		}
	}
	if url == "" || !fail || strings.HasPrefix(url, "https") {
		return "", false
	}
	m := probeURL.FindStringSubmatch(url)
	port := 80
	if m[1] != "" {
		port, _ = strconv.Atoi(m[1])
	}
	if port != mainPort {
		return "", false
	}
	path := m[2]
	if path == "" {
		path = "/"
	}
	return path, true
}

func (c *converter) memory(n string, s types.ServiceConfig, j *prodspec.Job) {
	mem := int64(s.MemLimit)
	key := "mem_limit"
	if s.Deploy != nil && s.Deploy.Resources.Limits != nil && s.Deploy.Resources.Limits.MemoryBytes > 0 {
		mem, key = int64(s.Deploy.Resources.Limits.MemoryBytes), "deploy.resources.limits.memory"
	}
	if mem <= 0 {
		return
	}
	if mem < 6<<20 {
		c.warn(n, key, "%d bytes not imported: below Docker's 6MiB minimum", mem)
		return
	}
	j.Memory = mem
}

func (c *converter) deploy(n string, d *types.DeployConfig) {
	if d.Mode != "" && d.Mode != "replicated" {
		c.warn(n, "deploy.mode", "%s not imported", d.Mode)
	}
	if len(d.Labels) > 0 {
		c.warn(n, "deploy.labels", "not imported")
	}
	if d.UpdateConfig != nil {
		c.warn(n, "deploy.update_config", "not imported")
	}
	if d.RollbackConfig != nil {
		c.warn(n, "deploy.rollback_config", "not imported")
	}
	if d.RestartPolicy != nil {
		c.warn(n, "deploy.restart_policy", "not imported")
	}
	if len(d.Placement.Constraints) > 0 || len(d.Placement.Preferences) > 0 || d.Placement.MaxReplicas > 0 {
		c.warn(n, "deploy.placement", "not imported: place jobs with run_on_host/tasks")
	}
	if d.EndpointMode != "" {
		c.warn(n, "deploy.endpoint_mode", "not imported")
	}
	if l := d.Resources.Limits; l != nil {
		if l.NanoCPUs != 0 {
			c.warn(n, "deploy.resources.limits.cpus", "not imported (the jobs file limits memory only)")
		}
		if l.Pids != 0 || len(l.Devices) > 0 || len(l.GenericResources) > 0 {
			c.warn(n, "deploy.resources.limits", "pids, devices and generic resources not imported")
		}
	}
	if d.Resources.Reservations != nil {
		c.warn(n, "deploy.resources.reservations", "not imported (the jobs file limits memory only)")
	}
}

// leftovers reports every service key with a value that job does not map.
// It works on the service's JSON form, so a key compose-go adds later is
// reported too rather than dropped silently.
func (c *converter) leftovers(n string, s types.ServiceConfig) {
	data, err := json.Marshal(s)
	if err != nil {
		c.warn(n, "*", "could not list the keys not imported: %v", err)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.warn(n, "*", "could not list the keys not imported: %v", err)
		return
	}
	for _, k := range sortedKeys(m) {
		if handled[k] || isEmpty(m[k]) {
			continue
		}
		c.warn(n, k, "%s not imported (no jobs-file equivalent)", short(m[k]))
	}
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// short formats a value for a warning: scalars as they are, lists and
// mappings as compact JSON cut to 60 characters.
func short(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = strconv.Quote(v)
	case float64, bool:
		s = fmt.Sprint(v)
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// projectWarnings reports project-level resources the jobs file cannot hold.
func (c *converter) projectWarnings() {
	p := c.project
	for _, name := range sortedKeys(p.Volumes) {
		v := p.Volumes[name]
		if v.Driver != "" && v.Driver != "local" || len(v.DriverOpts) > 0 || bool(v.External) || len(v.Labels) > 0 || (v.Name != "" && v.Name != p.Name+"_"+name) {
			c.warn("volumes", name, "driver, driver_opts, external, labels and name not imported: cjob makes its own per-project volume %q", name)
		}
	}
	for _, name := range sortedKeys(p.Networks) {
		if name == "default" {
			continue
		}
		c.warn("networks", name, "not imported: cjob puts every host on one project network")
	}
	for _, name := range sortedKeys(p.Secrets) {
		c.warn("secrets", name, "not imported: pass secrets as env or a bind-mounted file")
	}
	for _, name := range sortedKeys(p.Configs) {
		c.warn("configs", name, "not imported: bind-mount the file instead")
	}
	for _, name := range sortedKeys(p.Models) {
		c.warn("models", name, "not imported")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
