#!/usr/bin/env bash
# The demo `make demo` runs: no registry, no network, no root needed.
# It makes a busybox base image from Debian's busybox-static with plain
# tar/gzip, puts it into hoist's local store (the embedded default:
# $HOIST_HOME, else ~/.local/share/hoist), inspects it, and writes it out
# as an OCI layout and as a `docker load` tarball.
set -euo pipefail
HOIST=$(realpath "${1:-build/hoist}")
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/hoist-demo.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$SRCDIR/tests/lib/mkimage.sh"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "a busybox base image, made from busybox-static with tar and gzip"
make_layout "$T/base" busybox "hello from hoist" >/dev/null
run "$HOIST" cp oci:"$T/base":busybox demo/busybox:1

step "the local store"
run "$HOIST" images
run "$HOIST" inspect demo/busybox:1
run "$HOIST" history demo/busybox:1

step "out again: an OCI layout and a docker-load tarball"
run "$HOIST" cp demo/busybox:1 oci:"$T/out":busybox
run "$HOIST" cp demo/busybox:1 docker-archive:"$T/busybox.tar":demo/busybox:1
run tar -tf "$T/busybox.tar"
printf '\ndigest in the store: %s\ndigest in the layout: %s\n' \
	"$("$HOIST" digest demo/busybox:1)" "$("$HOIST" digest oci:"$T/out":busybox)"
