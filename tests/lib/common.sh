# Shared helpers for the end-to-end tests (source this file).
#   HOIST     the binary under test (set by meson)
#   SRCDIR    the source tree
# A test exits 0 on success, 77 to be reported as skipped, else failure.
set -euo pipefail

: "${HOIST:?HOIST must point at the hoist binary}"
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

# Lowercase digits only: podman names an oci: image after its path, and
# image names must be lowercase.
until T="${TMPDIR:-/tmp}/hoist-e2e-$$-$RANDOM" && mkdir -m 0755 "$T" 2>/dev/null; do :; done
export HOIST_HOME="$T/home"
# skopeo/podman/buildah keep a blob-info cache that makes copies skip
# blobs; give them a private one per test.
export XDG_RUNTIME_DIR="$T/xdg-run"
export REGISTRY_AUTH_FILE="$T/auth.json"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
_PIDS=()

cleanup() {
	local rc=$?
	set +e
	local p
	for p in "${_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for p in "${_PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "--- test failed (rc=$rc); work dir kept at $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

say() { printf '== %s\n' "$*"; }

# bg CMD...: starts a helper process (a proxy, a token server) that the
# cleanup stops; its output goes to $T/bg.log, never to the test's stdout
# (which the test runner waits on).
bg() {
	"$@" </dev/null >>"$T/bg.log" 2>&1 &
	_PIDS+=($!)
}
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }
have() { command -v "$1" >/dev/null 2>&1; }

hoist() { "$HOIST" "$@"; }

# expect_fail PATTERN CMD...: CMD must exit non-zero and print PATTERN
# (an extended regex) on stderr.
expect_fail() {
	local pat=$1; shift
	local out rc=0
	out=$("$@" 2>&1 >/dev/null) || rc=$?
	[ $rc -ne 0 ] || fail "expected failure: $*"
	printf '%s\n' "$out" | grep -Eq -- "$pat" || fail "stderr of '$*' lacks /$pat/: $out"
	printf '   failed as expected: %s\n' "$(printf '%s' "$out" | head -1)"
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_registry NAME [extra yaml]: starts Debian's docker-registry on a
# free 127.0.0.1 port; sets REG_NAME (host:port), REG_NAME_PORT,
# REG_NAME_LOG (its access log) and REG_NAME_DIR.  Call it directly, not in
# $(...): it must run in the test's shell so cleanup can stop it.
start_registry() {
	local name=$1 extra=${2:-}
	have docker-registry || skip "docker-registry not installed"
	local port dir
	port=$(free_port)
	dir="$T/registry-$name"
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
$extra
YML
	# docker-registry reads REGISTRY_* variables as configuration overrides
	env -u REGISTRY_AUTH_FILE docker-registry serve "$dir/config.yml" </dev/null >"$dir/log" 2>&1 &
	_PIDS+=($!)
	local i
	for i in $(seq 1 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then
			eval "REG_${name}=127.0.0.1:$port REG_${name}_PORT=$port REG_${name}_LOG=$dir/log REG_${name}_DIR=$dir"
			return 0
		fi
		sleep 0.1
	done
	cat "$dir/log" >&2
	fail "registry $name did not start"
}

. "$SRCDIR/tests/lib/mkimage.sh"

# podman_run IMAGE [ARGS...]: runs an image with podman in a private store
# and config (runc, no network: what works on these machines); returns 77
# (skip) when podman is not installed.
podman_run() {
	have podman || { echo "podman not installed: skipping podman run"; return 77; }
	local pd="$T/podman"
	mkdir -p "$pd"
	[ -f "$pd/containers.conf" ] || cat >"$pd/containers.conf" <<'PC'
[containers]
default_ulimits = []
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
PC
	env -u REGISTRY_AUTH_FILE CONTAINERS_CONF="$pd/containers.conf" timeout 300 podman --root "$pd/root" \
		--runroot "$pd/runroot" --storage-driver vfs run --rm -q "$@"
}
