#!/usr/bin/env bash
# Builds Docker Compose v5 (github.com/docker/compose, from the Go module
# proxy) into bin/docker-compose-v5 for `make bench`, once, and prints its
# path. The bench compares cjob with it when no `docker compose` plugin is
# installed. COMPOSE_VERSION picks the release.
set -euo pipefail
version=${COMPOSE_VERSION:-v5.6.0}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/bin/docker-compose-v5
if [ -x "$out" ] && "$out" version --short 2>/dev/null | grep -qx "${version#v}"; then
	echo "$out"
	exit 0
fi
dir=$(go mod download -json "github.com/docker/compose/v5@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "compose-v5.sh: cannot download github.com/docker/compose/v5@$version" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$dir/." "$work/"
chmod -R u+w "$work"
mkdir -p "$root/bin"
# Built as its own main module (its go.mod has exclude directives, which
# `go install pkg@version` refuses).
(cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$version" -o "$out" ./cmd) >&2
echo "$out"
