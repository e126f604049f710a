package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/registrytest"
)

// TestPrivateRegistry: the demo's images only in a registry behind
// htpasswd (Debian's docker-registry): `cjob dev up` without a login fails
// naming the registry, the image and `docker login`; after `docker login`
// it pulls with the credentials the docker CLI stored and the whole demo
// comes up.
func TestPrivateRegistry(t *testing.T) {
	need(t)
	reg := registrytest.Start(t, registrytest.Options{User: "dev", Password: "s3cret-pw", InMemory: true})
	cfg := t.TempDir() // DOCKER_CONFIG: where `docker login` keeps the credentials
	as := []string{"env", "DOCKER_CONFIG=" + cfg}
	dockerCfg := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	login := func() { dockerCfg(reg.Password, "login", "-u", reg.User, "--password-stdin", reg.Addr) }

	// The demo's images, in the registry only.
	out, err := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=coding/*:1.0.0").Output()
	if err != nil {
		t.Fatal(err)
	}
	imgs := strings.Fields(string(out))
	if len(imgs) < 5 {
		t.Fatalf("the demo's images are missing (examples/coding/build-images.sh): %v", imgs)
	}
	login()
	for _, img := range imgs {
		ref := reg.Addr + "/" + img
		docker(t, "tag", img, ref)
		dockerCfg("", "push", ref)
		docker(t, "rmi", ref)
		t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
	}
	dockerCfg("", "logout", reg.Addr)

	const project = "e2e-private"
	file := demoFile(t, project, func(s string) string {
		return strings.Replace(s, "project: "+project+"\n", "project: "+project+"\nregistry: "+reg.Addr+"\n", 1)
	})

	r := cjobVia(t, as, "dev", "up", "-f", file, "--progress", "plain")
	if r.code == 0 {
		t.Fatalf("dev up with no login succeeded:\n%s", r)
	}
	for _, want := range []string{"the registry " + reg.Addr + " refused it", reg.Addr + "/coding/", "run `docker login " + reg.Addr + "`"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("dev up with no login does not say %q:\n%s", want, r)
		}
	}
	t.Logf("without a login:\n%s", r.stdout+r.stderr)

	if doc := cjobVia(t, as, "doctor", "-f", file); !strings.Contains(doc.stdout+doc.stderr, "docker login "+reg.Addr) {
		t.Errorf("doctor with no login does not say to log in:\n%s", doc)
	}
	login()
	if doc := cjobVia(t, as, "doctor", "-f", file); !strings.Contains(doc.stdout, "pullable") {
		t.Errorf("doctor after docker login does not find the images pullable:\n%s", doc)
	}
	r = cjobVia(t, as, "dev", "up", "-f", file, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("dev up after docker login: %s", r)
	}
	t.Logf("dev up pulling the demo from the registry: %s", r.elapsed)
	running := 0
	for k, c := range observe(t, project) {
		if c.Kind().String() != "task" {
			continue
		}
		if !strings.HasPrefix(c.Image, reg.Addr+"/coding/") {
			t.Errorf("%s runs %s, not the registry's image", k, c.Image)
		}
		if c.State.String() == "running" {
			running++
		}
	}
	if running < 10 {
		t.Errorf("%d tasks running after dev up, want the demo's 10 services", running)
	}
	if ps := cjobVia(t, as, "dev", "ps", "-f", file); strings.Contains(ps.stdout, "unhealthy") {
		t.Errorf("dev ps:\n%s", ps)
	}
}
