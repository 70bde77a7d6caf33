#!/usr/bin/env bash
# Bad input gets a clear error naming what was wrong, a non-zero exit, and
# nothing half-written.
. "$(dirname "$0")/../lib/common.sh"

make_layout "$T/src" v1 errors >/dev/null

say "usage errors"
expect_fail "unknown command 'frobnicate'" hoist frobnicate
expect_fail "cp needs SRC and DST" hoist cp oci:$T/src:v1
expect_fail "invalid --jobs" hoist cp --jobs 0 oci:$T/src:v1 oci:$T/x:v1

say "bad references"
expect_fail "lowercase" hoist digest Docker.io/Library/Busybox:latest
expect_fail "tag" hoist digest "busybox:$(printf 'a%.0s' $(seq 1 129))"
expect_fail "digest" hoist digest busybox@sha256:1234
expect_fail "" hoist digest "oci:"

say "missing things are named"
expect_fail "$T/nope" hoist digest oci:$T/nope:v1
expect_fail "v9" hoist digest oci:$T/src:v9
expect_fail "" hoist inspect local:not-there:1

say "a corrupted blob fails the copy and writes no tag"
layer=$(hoist manifest oci:$T/src:v1 | jq -r '.layers[0].digest')
f="$T/src/blobs/sha256/${layer#sha256:}"
chmod u+w "$f"
printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
expect_fail "digest" hoist cp oci:$T/src:v1 oci:$T/dst:v1
if [ -f "$T/dst/index.json" ]; then
	jq -e '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="v1")] | length == 0' "$T/dst/index.json" >/dev/null \
		|| fail "tag written despite corrupted blob"
fi
[ ! -e "$T/dst/blobs/sha256/${layer#sha256:}" ] || fail "corrupted blob stored"
expect_fail "digest" hoist cp oci:$T/src:v1 docker-archive:$T/out.tar:x:1
[ ! -e "$T/out.tar" ] || fail "archive written despite corrupted blob"

say "a manifest that is not JSON is rejected"
make_layout "$T/bad" v1 bad >/dev/null
m=$(jq -r '.manifests[0].digest' "$T/bad/index.json")
printf 'not json' >"$T/bad/blobs/sha256/${m#sha256:}"
expect_fail "" hoist inspect oci:$T/bad:v1
echo "all good"
