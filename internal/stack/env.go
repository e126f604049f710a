package stack

// Env is an environment of a project: the dev stack on one local engine, a
// staging pool, or production itself. It is recorded on every object cjob
// makes (LabelEnv), so environments of one project never touch each other.
type Env int

const (
	EnvUnknown Env = iota
	Dev            // production rewritten onto one local engine (host sandboxes)
	Staging        // production's hosts placed on an intranet pool
	Production     // every task on its own host's engine
)

func (e Env) String() string {
	switch e {
	case Dev:
		return "dev"
	case Staging:
		return "staging"
	case Production:
		return "production"
	}
	return "unknown"
}

// ParseEnv is the inverse of Env.String; any other word is EnvUnknown.
func ParseEnv(s string) Env {
	switch s {
	case "dev":
		return Dev
	case "staging":
		return Staging
	case "production":
		return Production
	}
	return EnvUnknown
}
