#!/usr/bin/env bash
# Builds the images of examples/coding/jobs.yml on the local Docker engine.
#
#   examples/coding/build-images.sh [TAG]     (TAG defaults to 1.0.0)
#
# One static binary (examples/coding/demo, CGO_ENABLED=0) goes into one image
# FROM scratch, tagged coding/demo:TAG and coding/<role>:TAG for every role.
# The image has no ENTRYPOINT and CMD ["/demo"]: the job's ROLE env (or a
# command such as ["/demo", "migrate"]) picks the role. Nothing is pulled.
#
# The image carries the binary's sha256 as a label; when every tag already
# points at an image with that label, nothing is rebuilt. Works from any
# directory.
set -euo pipefail

TAG="${1:-1.0.0}"
ROLES=(gateway web api git mail sms cache queue worker migrate prober)
HASH_LABEL="cjob.example.demo-sha256"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# Build for the engine's architecture (the engine may not be this machine).
goarch="$(docker version --format '{{.Server.Arch}}' 2>/dev/null || true)"
goarch="${goarch:-$(go env GOARCH)}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "building demo binary (linux/$goarch)"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" \
	go build -trimpath -ldflags='-s -w' -o "$work/demo" ./examples/coding/demo)
# sha256sum (Linux) or shasum (macOS).
if command -v sha256sum >/dev/null; then sum() { sha256sum "$1"; }; else sum() { shasum -a 256 "$1"; }; fi
hash="$(sum "$work/demo" | cut -c1-64)"
echo "binary sha256 ${hash:0:12}"

# label IMAGE prints the hash label of IMAGE, or nothing if there is none.
label() {
	docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true
}

images=("coding/demo:$TAG")
for r in "${ROLES[@]}"; do images+=("coding/$r:$TAG"); done

stale=()
old_ids=()
for img in "${images[@]}"; do
	if [[ "$(label "$img")" != "$hash" ]]; then
		stale+=("$img")
		id="$(docker image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)"
		[[ -n "$id" ]] && old_ids+=("$id")
	fi
done

if [[ ${#stale[@]} -eq 0 ]]; then
	echo "up to date: ${images[*]}"
	exit 0
fi

if [[ "$(label "coding/demo:$TAG")" == "$hash" ]]; then
	echo "image coding/demo:$TAG is current"
else
	cat >"$work/Dockerfile" <<EOF
FROM scratch
COPY demo /demo
LABEL $HASH_LABEL="$hash" \\
      org.opencontainers.image.title="coding demo" \\
      org.opencontainers.image.source="github.com/cjob/cjob/examples/coding/demo"
CMD ["/demo"]
EOF
	echo "docker build -t coding/demo:$TAG"
	# (stderr is shown only on failure: the legacy builder warns on every build)
	if ! out="$(docker build --quiet --force-rm -t "coding/demo:$TAG" "$work" 2>&1)"; then
		echo "$out" >&2
		exit 1
	fi
fi

for img in "${stale[@]}"; do
	[[ "$img" == "coding/demo:$TAG" ]] && continue
	docker tag "coding/demo:$TAG" "$img"
	echo "tagged $img"
done

# Remove images that this rebuild left without any tag.
for id in "${old_ids[@]+"${old_ids[@]}"}"; do
	if [[ "$(docker image inspect --format '{{len .RepoTags}}' "$id" 2>/dev/null || echo x)" == 0 ]]; then
		if docker image rm "$id" >/dev/null 2>&1; then echo "removed untagged old image ${id:7:12}"; fi
	fi
done

echo "built $(docker image inspect --format '{{.Id}}' "coding/demo:$TAG" | cut -c8-19): ${images[*]}"
