#!/usr/bin/env bash
# The demo `make demo` runs: no registry, no network, no daemon.
#
# It builds demo/hello (a small C program; a multi-stage Dockerfile whose
# last stage is `FROM scratch` with a non-root USER) into hoist's local
# store ($HOIST_HOME, else ~/.local/share/hoist) and runs it with
# `hoist run`.  The builder stage needs a C compiler in an image: that
# image is made offline from the host's own gcc by demo/make-toolchain.sh
# (once; later runs reuse it).  Then it builds again to show the layer
# cache: nothing runs.
set -euo pipefail
HOIST=$(realpath "${1:-build/hoist}")
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/hoist-demo.XXXXXX")
trap 'rm -rf "$T"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
die() { printf '\ndemo FAILED: %s\n' "$*" >&2; exit 1; }

step "a C toolchain image, made offline from this machine's gcc (skipped when the store has it)"
printf '$ %s\n' "demo/make-toolchain.sh $HOIST"
TOOLCHAIN=$("$SRCDIR/demo/make-toolchain.sh" "$HOIST")
TOOLCHAIN=${TOOLCHAIN#local:}
echo "toolchain image: $TOOLCHAIN"

step "the project: a C program and a multi-stage Dockerfile"
run ls -A "$SRCDIR/demo/hello"
run cat "$SRCDIR/demo/hello/Dockerfile"

step "build it into the local store (no daemon, no registry)"
run "$HOIST" build --build-arg TOOLCHAIN="$TOOLCHAIN" -t hello:demo "$SRCDIR/demo/hello" \
	2>&1 | tee "$T/build1.log"

step "the local store"
run "$HOIST" images
run "$HOIST" inspect hello:demo
run "$HOIST" history hello:demo

step "run it: the static binary alone in the image, as uid 65532"
run "$HOIST" run hello:demo | tee "$T/run.out"
grep -q 'Hello from hoist! I am running as uid 65532' "$T/run.out" ||
	die "hoist run hello:demo did not greet as uid 65532: $(cat "$T/run.out")"
run "$HOIST" run hello:demo "make demo" | tee "$T/run2.out"
grep -q 'Hello from make demo!' "$T/run2.out" || die "arguments did not reach the ENTRYPOINT"

step "build again: every step comes from the cache, no RUN executes"
run "$HOIST" build --build-arg TOOLCHAIN="$TOOLCHAIN" -t hello:demo "$SRCDIR/demo/hello" \
	2>&1 | tee "$T/build2.log"
last=$(grep '^built ' "$T/build2.log" | tail -1)
case "$last" in
*" 0 RUN executed)"*) echo "-> the rebuild ran no RUN: $last" ;;
*) die "the rebuild executed a RUN: $last" ;;
esac
d1=$(grep '^sha256:' "$T/build1.log" | tail -1)
d2=$(grep '^sha256:' "$T/build2.log" | tail -1)
[ "$d1" = "$d2" ] || die "the rebuild gave another digest: $d1 vs $d2"
echo "-> same image: $d2"

step "out again: an OCI layout and a docker-load tarball"
run "$HOIST" cp hello:demo oci:"$T/out":hello
run "$HOIST" cp hello:demo docker-archive:"$T/hello.tar":hello:demo
run tar -tf "$T/hello.tar"
printf '\ndigest in the store: %s\ndigest in the layout: %s\n' \
	"$("$HOIST" digest hello:demo)" "$("$HOIST" digest oci:"$T/out":hello)"
printf '\ndemo done: built and ran hello:demo from %s with %s\n' "$SRCDIR/demo/hello" "$TOOLCHAIN"
