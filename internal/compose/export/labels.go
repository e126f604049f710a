package export

import "github.com/cjob/cjob/internal/stack"

// Label keys Docker Compose reads on containers (github.com/docker/compose
// pkg/api/labels.go).
const (
	ComposeProject         = "com.docker.compose.project"
	ComposeService         = "com.docker.compose.service"
	ComposeContainerNumber = "com.docker.compose.container-number"
	ComposeOneoff          = "com.docker.compose.oneoff"
	ComposeConfigHash      = "com.docker.compose.config-hash"
	ComposeVersion         = "com.docker.compose.version"
	ComposeWorkingDir      = "com.docker.compose.project.working_dir"
)

// ComposeVersionValue is what cjob writes in com.docker.compose.version.
// Compose only displays it; "2.0.0" is the first Compose v2 release, whose
// labels these are.
const ComposeVersionValue = "2.0.0"

// Labels returns the labels Docker Compose uses to recognise a container,
// for a unit of the stack, so `docker compose -p <project>-<env> ps` and
// `logs` list cjob's containers under the service names Compose (the
// export) uses, and Docker Desktop groups them as one project. configHash
// is cjob's config hash (stack.Unit.Hash): Compose compares it with its own
// hash only when `docker compose up` runs on the same project, and then
// recreates the container, which is what a different definition should do.
//
// The working-directory label is left out: a cjob stack is made from a jobs
// file, not from a folder of Compose files. Each unit is container 1 of its
// service and never a one-off.
func Labels(st *stack.Stack, u *stack.Unit, configHash string) map[string]string {
	return map[string]string{
		ComposeProject:         ProjectName(st),
		ComposeService:         ServiceName(u),
		ComposeContainerNumber: "1",
		ComposeOneoff:          "False",
		ComposeConfigHash:      configHash,
		ComposeVersion:         ComposeVersionValue,
	}
}
