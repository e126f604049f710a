#!/usr/bin/env bash
# A pool of Docker engines on this machine, each in its own network namespace
# with its own IP address, as if they were separate intranet machines: try
# `cjob staging` by hand against it. (Tests use internal/pooltest instead.)
#
#   scripts/pool.sh up N [NAME]    start N engines stg-1..stg-N (NAME: cjpool)
#   scripts/pool.sh down [NAME]    stop and remove everything of the pool
#   scripts/pool.sh status [NAME]  print each engine's endpoint and address
#
# Environment:
#   POOL_NET=10.210.0              the /24 of the pool: bridge .1, hosts .11, .12, ...
#   POOL_IMAGES="coding/git:1.0.0" images of the main engine to load into each engine
#   POOL_DRIVERS="overlay2 fuse-overlayfs vfs"  storage drivers to try, in order
#   POOL_DOCKERD_ARGS=""           more dockerd flags, e.g. "--insecure-registry 10.210.0.1:5077"
#
# Needs root, docker.io (dockerd, containerd, docker), iproute2, util-linux.
# Layout, for pool NAME: bridge NAME-br; per host I: netns NAME-stg-I with
# eth0 at POOL_NET.(10+I), veth NAME-vI, /run/cjob-pool/NAME-stg-I (socket,
# logs, pid files) and /var/lib/cjob-pool/NAME-stg-I (data); one iptables
# FORWARD rule for the bridge. Containers must run with --network host.
set -euo pipefail

NET="${POOL_NET:-10.210.0}"
DRIVERS="${POOL_DRIVERS:-overlay2 fuse-overlayfs vfs}"

die() { echo "pool.sh: $*" >&2; exit 1; }

usage() { sed -n '6,8p' "$0" | sed 's/^# *//' >&2; exit 2; }

# hosts NAME: the host numbers of the pool that exist in any form.
hosts() {
	local p
	for p in /var/run/netns/"$1"-stg-* /run/cjob-pool/"$1"-stg-* /var/lib/cjob-pool/"$1"-stg-*; do
		if [[ -e "$p" ]]; then echo "${p##*-stg-}"; fi
	done | sort -nu
}

# unmount DIR...: unmount everything at or under the directories, deepest
# first.
unmount() {
	local re mp
	re="^($(IFS='|'; echo "$*"))(/|\$)"
	awk '{print $5}' /proc/self/mountinfo | { grep -E "$re" || true; } | sort -r |
		while read -r mp; do umount "$mp" 2>/dev/null || umount -l "$mp"; done
}

# inns NS CMD...: run CMD in a fresh UTS namespace named after the host,
# inside network namespace NS, detached from this terminal.
inns() {
	local ns="$1"
	shift
	exec setsid unshare --uts sh -c 'echo "$0" >/proc/sys/kernel/hostname && exec "$@"' \
		"stg-${ns##*-stg-}" nsenter --net="/var/run/netns/$ns" -- "$@" </dev/null
}

# engine NAME I: start containerd and dockerd of host I (its network is
# ready), trying the storage drivers in turn.
engine() {
	local name="$1" i="$2"
	local ns="$name-stg-$i"
	local run="/run/cjob-pool/$ns" data="/var/lib/cjob-pool/$ns"
	local sock="unix://$run/docker.sock"
	mkdir -p "$run" "$data/docker" "$data/containerd"
	# Own containerd: with /run/containerd/containerd.sock present, dockerd
	# would use the system one, outside the namespace.
	cat >"$run/containerd.toml" <<-EOF
		version = 2
		root = "$data/containerd"
		state = "$run/c"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$run/c.sock"
	EOF
	inns "$ns" containerd --config "$run/containerd.toml" >>"$run/containerd.log" 2>&1 &
	echo $! >"$run/containerd.pid"
	for _ in $(seq 100); do [[ -S "$run/c.sock" ]] && break; sleep 0.1; done
	[[ -S "$run/c.sock" ]] || { tail "$run/containerd.log" >&2; die "stg-$i: containerd did not start"; }
	# Not /etc/docker/daemon.json: its options would conflict. Before 23,
	# dockerd takes its engine ID from /etc/docker/key.json unless told.
	if (($(dockerd --version | sed -E 's/^Docker version ([0-9]+).*/\1/') < 23)); then
		echo "{\"deprecated-key-path\": \"$run/key.json\"}" >"$run/daemon.json"
	else
		echo "{}" >"$run/daemon.json"
	fi
	local drv pid
	for drv in $DRIVERS; do
		inns "$ns" dockerd --config-file "$run/daemon.json" -H "$sock" \
			--data-root "$data/docker" --exec-root "$run/x" --pidfile "$run/dockerd.pid" \
			--containerd "$run/c.sock" --containerd-namespace "$ns" --containerd-plugins-namespace "${ns}p" \
			--storage-driver "$drv" --bridge none --iptables=false --ip-masq=false \
			--shutdown-timeout 5 ${POOL_DOCKERD_ARGS:-} >>"$run/dockerd.log" 2>&1 &
		pid=$!
		for _ in $(seq 600); do
			docker -H "$sock" version >/dev/null 2>&1 && { echo "$drv" >"$run/driver"; return 0; }
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && { tail -20 "$run/dockerd.log" >&2; die "stg-$i: dockerd not ready after 60s"; }
		echo "stg-$i: storage driver $drv: $(tail -1 "$run/dockerd.log")" >&2
		unmount "$data/docker"
		rm -rf "${data:?}/docker"
	done
	die "stg-$i: no storage driver works (see $run/dockerd.log)"
}

up() {
	local n="$1" name="$2" i
	[[ "$n" =~ ^[1-9][0-9]?$ ]] || die "N must be 1 to 99"
	[[ "$name" =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "NAME must match [a-z][a-z0-9]{0,7}"
	[[ -z "$(hosts "$name")" ]] && ! ip link show "$name-br" >/dev/null 2>&1 ||
		die "pool $name exists: run '$0 down $name' first"
	ip -o -4 addr show | grep -F " $NET." >/dev/null && die "$NET.0/24 is in use here: set POOL_NET"
	mkdir -p /run/cjob-pool /var/lib/cjob-pool

	ip link add "$name-br" type bridge
	ip addr add "$NET.1/24" dev "$name-br"
	ip link set "$name-br" up
	# The main engine's FORWARD policy is DROP, and br_netfilter applies it
	# to bridged traffic.
	iptables -I FORWARD -i "$name-br" -o "$name-br" -j ACCEPT

	local tar="" save=""
	if [[ -n "${POOL_IMAGES:-}" ]]; then
		tar="$(mktemp /tmp/cjob-pool-images.XXXXXX)"
		trap "rm -f '$tar'" EXIT
		# shellcheck disable=SC2086
		docker save -o "$tar" $POOL_IMAGES &
		save=$!
	fi
	local pids=()
	for ((i = 1; i <= n; i++)); do
		(
			ns="$name-stg-$i"
			ip netns add "$ns"
			ip link add "$name-v$i" type veth peer name eth0 netns "$ns"
			ip link set "$name-v$i" master "$name-br" up
			ip -n "$ns" addr add "$NET.$((10 + i))/24" dev eth0
			ip -n "$ns" link set eth0 up
			ip -n "$ns" link set lo up
			ip -n "$ns" route add default via "$NET.1"
			engine "$name" "$i"
		) &
		pids+=($!)
	done
	local failed=0
	for p in "${pids[@]}"; do wait "$p" || failed=1; done
	if [[ -n "$tar" ]]; then
		wait "$save" || die "docker save $POOL_IMAGES failed"
		pids=()
		for ((i = 1; i <= n; i++)); do
			docker -H "unix:///run/cjob-pool/$name-stg-$i/docker.sock" load -q <"$tar" >/dev/null &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || failed=1; done
	fi
	((failed == 0)) || die "some engines failed; see above, then: $0 down $name"
	status "$name"
	cat <<-EOF

		Use an engine:  docker -H unix:///run/cjob-pool/$name-stg-1/docker.sock run -d --network host IMAGE
		On a host:      nsenter --net=/var/run/netns/$name-stg-2 curl http://$NET.11:PORT/
		From here:      curl http://$NET.11:PORT/
		Tear down:      $0 down $name
	EOF
}

status() {
	local name="$1" i ns run sock state
	local list
	list="$(hosts "$name")"
	[[ -n "$list" ]] || { echo "pool $name: not up"; return 0; }
	printf '%-6s %-8s %-15s %-16s %-54s %s\n' HOST STATE ADDRESS DRIVER ENDPOINT CONTAINERS
	for i in $list; do
		ns="$name-stg-$i"
		run="/run/cjob-pool/$ns"
		sock="unix://$run/docker.sock"
		state=down
		local n="-"
		if docker -H "$sock" version >/dev/null 2>&1; then
			state=up
			n="$(docker -H "$sock" ps -q | wc -l)"
		fi
		printf '%-6s %-8s %-15s %-16s %-54s %s\n' "stg-$i" "$state" "$NET.$((10 + i))" \
			"$(cat "$run/driver" 2>/dev/null || echo -)" "$sock" "$n"
	done
}

# stop PIDFILE: SIGTERM the process named there (if it is ours), SIGKILL
# after 10s.
stop() {
	local pid
	pid="$(cat "$1" 2>/dev/null)" || return 0
	grep -qsF "$(dirname "$1")/" "/proc/$pid/cmdline" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}

down() {
	local name="$1" i ns run data sock
	for i in $(hosts "$name"); do
		(
			ns="$name-stg-$i"
			run="/run/cjob-pool/$ns"
			data="/var/lib/cjob-pool/$ns"
			sock="unix://$run/docker.sock"
			if docker -H "$sock" version >/dev/null 2>&1; then
				# shellcheck disable=SC2046
				docker -H "$sock" rm -f $(docker -H "$sock" ps -aq) >/dev/null 2>&1 || true
			fi
			stop "$run/dockerd.pid"
			stop "$run/containerd.pid"
			# Whatever is left in the namespace (shims, containers), and
			# containers outside it (--network none) that a crash orphaned.
			if [[ -e "/var/run/netns/$ns" ]]; then
				ip netns pids "$ns" | xargs -r kill -KILL 2>/dev/null || true
			fi
			for id in $(ls "$data/docker/containers" 2>/dev/null); do
				grep -lsF "$id" /proc/[0-9]*/cgroup | cut -d/ -f3 | xargs -r kill -KILL 2>/dev/null || true
			done
			sleep 0.2
			for id in $(ls "$data/docker/containers" 2>/dev/null); do
				rmdir /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/docker/"$id" 2>/dev/null || true
			done
			unmount "$run" "$data"
			[[ -e "/var/run/netns/$ns" ]] && ip netns delete "$ns"
			rm -rf "$run" "$data"
		) &
	done
	wait
	ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | { grep -E "^$name-(br|v[0-9]+)\$" || true; } |
		while read -r link; do ip link delete "$link" 2>/dev/null || true; done
	while iptables -D FORWARD -i "$name-br" -o "$name-br" -j ACCEPT 2>/dev/null; do :; done
	rmdir /run/cjob-pool /var/lib/cjob-pool 2>/dev/null || true
	# The first `ip netns add` made /var/run/netns a mount point: undo it
	# when no namespace is left.
	if [[ -z "$(ls -A /var/run/netns 2>/dev/null)" ]] && mountpoint -q /var/run/netns; then
		umount /var/run/netns || true
	fi
	echo "pool $name: down"
}

[[ $# -ge 1 ]] || usage
[[ "$(id -u)" == 0 ]] || die "needs root"
for bin in dockerd containerd docker ip nsenter unshare setsid iptables; do
	command -v "$bin" >/dev/null || die "missing $bin (Debian: docker.io iproute2 util-linux)"
done
case "$1" in
up)
	[[ $# -ge 2 && $# -le 3 ]] || usage
	up "$2" "${3:-cjpool}"
	;;
down)
	[[ $# -le 2 ]] || usage
	down "${2:-cjpool}"
	;;
status)
	[[ $# -le 2 ]] || usage
	status "${2:-cjpool}"
	;;
*) usage ;;
esac
