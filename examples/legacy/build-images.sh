#!/usr/bin/env bash
# Builds the images named by examples/legacy/jobs.pb.txt (the original
# tool's format) on the local Docker engine: each is the coding demo image
# (../coding/build-images.sh, run first) under another name.
#
#   examples/legacy/build-images.sh
#
# The legacy file sets no ROLE, so the demo runs its "generic" role: it
# listens on $http_port when set (webhook-listener: 8990), else on 9090,
# 9999 and 4444 at once, skipping any port already taken in the shared
# network namespace of the host (updatehook-listener gets 9999 on git-app-1,
# coding-blog 9090, coding-prober 4444). Works from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TAG=1.0.0
IMAGES=(coding-prober:latest coding-blog:59559fd webhook-listener:a5af2f2 updatehook-listener:latest)

"$here/../coding/build-images.sh" "$TAG"

src="coding/demo:$TAG"
want="$(docker image inspect --format '{{.Id}}' "$src")"
old_ids=()
for img in "${IMAGES[@]}"; do
	id="$(docker image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)"
	if [[ "$id" == "$want" ]]; then
		echo "up to date: $img"
		continue
	fi
	[[ -n "$id" ]] && old_ids+=("$id")
	docker tag "$src" "$img"
	echo "tagged $img"
done

# Remove images that retagging left without any tag.
for id in "${old_ids[@]+"${old_ids[@]}"}"; do
	if [[ "$(docker image inspect --format '{{len .RepoTags}}' "$id" 2>/dev/null || echo x)" == 0 ]]; then
		if docker image rm "$id" >/dev/null 2>&1; then echo "removed untagged old image ${id:7:12}"; fi
	fi
done
