#!/usr/bin/env bash
# A production for the demo, on this machine: six Docker engines, each in its
# own network namespace with its own address (scripts/pool.sh), stand in for
# the six production hosts of examples/coding/jobs.yml; a registry holds the
# demo's images; a copy of the jobs file points every host at its engine.
# Then `cjob server`, `cjob push` and the operator's verbs run for real.
#
#   examples/coding/prod-demo.sh up      start it all; prints the jobs file
#   examples/coding/prod-demo.sh down    stop and remove it all
#
# The registry gets three tags of coding/api: 1.0.0 (what jobs.yml names),
# 1.1.0 (a new release) and 1.2.0-rc1 (broken: its /healthz answers 500), so
# that `cjob update` and `cjob rolling-update` have something to roll onto,
# and something to roll back from.
#
# Environment: DEMO_NET=10.211.0 (the pool's /24), DEMO_REGISTRY_PORT=5077.
# Needs root, docker.io, docker-registry (apt-get install docker-registry).
set -euo pipefail

NAME=cjdemo
NET="${DEMO_NET:-10.211.0}"
PORT="${DEMO_REGISTRY_PORT:-5077}"
RUN=/run/cjob-prod-demo
OUT=/tmp/cjob-prod-demo
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
HOSTS=(edge-1 core-app-1 git-app-1 msg-app-1 data-1 mon-1)

die() { echo "prod-demo: $*" >&2; exit 1; }

up() {
	command -v docker-registry >/dev/null || die "docker-registry is not installed: apt-get install docker-registry"
	mkdir -p "$RUN" "$OUT"
	bash "$here/build-images.sh" 1.0.0 >&2

	# The registry listens on every address: this machine's engine pushes
	# to 127.0.0.1 (an insecure registry by default), the pool's engines
	# pull from the bridge address (--insecure-registry below).
	if ! curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1; then
		cat >"$RUN/registry.yml" <<-EOF
			version: 0.1
			log: {level: warn}
			storage: {filesystem: {rootdirectory: $RUN/registry}, delete: {enabled: true}}
			http: {addr: "0.0.0.0:$PORT"}
		EOF
		setsid docker-registry serve "$RUN/registry.yml" >"$RUN/registry.log" 2>&1 </dev/null &
		echo $! >"$RUN/registry.pid"
		for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
		curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null || { cat "$RUN/registry.log" >&2; die "the registry did not start"; }
	fi
	local reg="127.0.0.1:$PORT" role
	for role in gateway web api git mail sms cache queue worker migrate prober; do
		docker tag "coding/$role:1.0.0" "$reg/coding/$role:1.0.0"
		docker push -q "$reg/coding/$role:1.0.0" >/dev/null
	done
	local ctx
	ctx="$(mktemp -d)"
	printf 'FROM coding/api:1.0.0\nLABEL org.opencontainers.image.version=1.1.0\n' >"$ctx/Dockerfile"
	docker build -q -t "$reg/coding/api:1.1.0" "$ctx" >/dev/null
	printf 'FROM coding/api:1.0.0\nLABEL org.opencontainers.image.version=1.2.0-rc1\nENV DEMO_UNHEALTHY=1\n' >"$ctx/Dockerfile"
	docker build -q -t "$reg/coding/api:1.2.0-rc1" "$ctx" >/dev/null
	rm -rf "$ctx"
	docker push -q "$reg/coding/api:1.1.0" >/dev/null
	docker push -q "$reg/coding/api:1.2.0-rc1" >/dev/null
	echo "registry: http://$reg (also $NET.1:$PORT), coding/*:1.0.0, coding/api:1.1.0, coding/api:1.2.0-rc1" >&2

	if [[ ! -S "/run/cjob-pool/$NAME-stg-1/docker.sock" ]]; then
		POOL_NET="$NET" POOL_DOCKERD_ARGS="--insecure-registry $NET.1:$PORT" bash "$repo/scripts/pool.sh" up "${#HOSTS[@]}" "$NAME" >&2
	fi

	# The jobs file, with every host on its engine and the images in the
	# registry. /data/cache becomes a named volume so nothing is written to
	# this machine's /data.
	local file="$OUT/jobs.yml" i sed=()
	for i in "${!HOSTS[@]}"; do
		local h="${HOSTS[$i]}" n=$((i + 1))
		sed+=(-e "s|^  $h: .*|  $h: {address: $NET.$((10 + n)), docker: \"unix:///run/cjob-pool/$NAME-stg-$n/docker.sock\", memory: 4GiB}|")
	done
	sed "${sed[@]}" -e "s|^project: coding$|project: coding\nregistry: $NET.1:$PORT|" \
		-e "s|/data/cache:/data|cache-data:/data|" "$here/jobs.yml" >"$file"
	echo "$file"
}

down() {
	bash "$repo/scripts/pool.sh" down "$NAME" >&2 || true
	if [[ -f "$RUN/registry.pid" ]]; then
		kill "$(cat "$RUN/registry.pid")" 2>/dev/null || true
	fi
	rm -rf "$RUN" "$OUT"
	echo "prod-demo: down" >&2
}

case "${1:-}" in
up) up ;;
down) down ;;
*) sed -n '8,9p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
esac
