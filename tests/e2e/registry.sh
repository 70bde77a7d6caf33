#!/usr/bin/env bash
# hoist against Debian's docker-registry (distribution 2.8) on 127.0.0.1:
# copies between two registries keep digests; blobs the target has are not
# downloaded; cross-repository mount; --all-tags mirroring; round trips
# through oci: and docker-archive:; tag, ls (paginated), catalog, delete;
# a connection cut mid-blob; a corrupted blob.
. "$(dirname "$0")/../lib/common.sh"

start_registry a
start_registry b
A=$REG_a B=$REG_b
skopeo_raw() { skopeo inspect --raw --tls-verify=false "docker://$1" | sha256sum | cut -d' ' -f1; }
blob_gets() { grep -c "\"GET /v2/$2/blobs/sha256:[0-9a-f]* HTTP/" "$1" || true; }
# requests in a registry's access log (it also writes an app log line each)
requests() { grep -cE '"(GET|HEAD|PUT|POST|PATCH|DELETE) /v2/[^ ]* HTTP/' "$1" || true; }

one=$(make_layout "$T/src" v1 registry-one)
idx=$(make_index_layout "$T/src" multi)

say "push from an OCI layout, then registry to registry: same digest"
hoist cp oci:$T/src:v1 $A/app:v1
assert_eq "$(hoist digest $A/app:v1)" "$one" "digest in A"
hoist cp $A/app:v1 $B/app:v1
assert_eq "$(hoist digest $B/app:v1)" "$one" "digest in B"
if have skopeo; then
	assert_eq "sha256:$(skopeo_raw $B/app:v1)" "$one" "skopeo inspect --raw on B"
fi
hoist inspect $B/app:v1 | grep "mark=registry-one" >/dev/null || fail "inspect over the registry"
hoist config $B/app:v1 | jq -e '.architecture == "amd64"' >/dev/null
hoist history $B/app:v1 | grep "make_layout registry-one" >/dev/null || fail "history over the registry"

say "a multi-arch index arrives whole with its digest"
hoist cp oci:$T/src:multi $A/multi:1
hoist cp $A/multi:1 $B/multi:1
assert_eq "$(hoist digest $B/multi:1)" "$idx" "index digest in B"
if have skopeo; then
	assert_eq "sha256:$(skopeo_raw $B/multi:1)" "$idx" "skopeo sees the index in B"
	arm=$(hoist digest --platform linux/arm64 $A/multi:1)
	assert_eq "sha256:$(skopeo_raw $B/multi@$arm)" "$arm" "child manifest in B"
fi
hoist cp --platform linux/arm64 $A/multi:1 $B/armonly:1
assert_eq "$(hoist digest $B/armonly:1)" "$(hoist digest --platform linux/arm64 $A/multi:1)" "--platform copy"

say "a target that has the blobs gets no blob downloaded from the source"
before=$(blob_gets "$REG_a_LOG" app)
hoist cp $A/app:v1 $B/app:v1-again 2>&1 | tee "$T/again.txt"
after=$(blob_gets "$REG_a_LOG" app)
assert_eq "$after" "$before" "blob GETs on A during a copy B already has"
grep -q "2 already present" "$T/again.txt" || fail "copy did not report skipped blobs"

say "cross-repository mount within one registry"
before=$(blob_gets "$REG_a_LOG" app)
hoist cp $A/app:v1 $A/mounted/app:v1 2>&1 | tee "$T/mount.txt"
grep -q "2 mounted" "$T/mount.txt" || fail "blobs were not mounted"
grep -q 'POST /v2/mounted/app/blobs/uploads/?.*mount=sha256' "$REG_a_LOG" || fail "no mount request in A's log"
assert_eq "$(blob_gets "$REG_a_LOG" app)" "$before" "blob GETs during a mount"
assert_eq "$(hoist digest $A/mounted/app:v1)" "$one" "mounted image digest"

say "tag, ls with pagination, catalog, delete"
for t in v2 v3 v4; do hoist -q tag $A/app:v1 $t; done
# a different image for rc1: deleting a manifest removes every tag on it
make_layout "$T/src" rc registry-rc >/dev/null
hoist -q cp oci:$T/src:rc $A/app:rc1
hoist ls $A/app | sort >"$T/tags.txt"
assert_eq "$(tr '\n' ' ' <"$T/tags.txt")" "rc1 v1 v2 v3 v4 " "tags of A/app"
hoist catalog $A | grep -x "mounted/app" >/dev/null || fail "catalog lacks mounted/app"
hoist catalog --json $A | jq -e 'index("multi") != null' >/dev/null
hoist delete $A/app:rc1
expect_fail "MANIFEST_UNKNOWN|not found|unknown" hoist digest $A/app:rc1
assert_eq "$(hoist digest $A/app:v4)" "$one" "other tags survive the delete"

say "--all-tags mirrors a repository; a second run only checks"
hoist cp --all-tags --tag-regex '^v[0-9]+$' $A/app $B/mirror 2>&1 | tee "$T/mirror.txt"
hoist ls $B/mirror | sort >"$T/mtags.txt"
assert_eq "$(tr '\n' ' ' <"$T/mtags.txt")" "v1 v2 v3 v4 " "mirrored tags"
reqs_a=$(requests "$REG_a_LOG")
reqs_b=$(requests "$REG_b_LOG")
hoist cp --all-tags --tag-regex '^v[0-9]+$' $A/app $B/mirror 2>&1 | tee "$T/mirror2.txt"
[ "$(grep -c unchanged "$T/mirror2.txt")" = 4 ] || fail "second mirror run copied again"
ra=$(( $(requests "$REG_a_LOG") - reqs_a ))
rb=$(( $(requests "$REG_b_LOG") - reqs_b ))
echo "   second mirror run: $ra requests to A, $rb to B for 4 tags"
# per tag one manifest GET at the source and one HEAD at the target, plus
# a ping of each registry and the tag list
[ $((ra + rb)) -le 11 ] || fail "mirror run with nothing new made $((ra + rb)) requests"

say "round trips: registry -> oci -> docker-archive -> registry"
hoist cp $B/app:v1 oci:$T/rt:v1
hoist cp oci:$T/rt:v1 docker-archive:$T/rt.tar:rt/app:v1
hoist cp docker-archive:$T/rt.tar $A/roundtrip:v1
assert_eq "$(hoist digest $A/roundtrip:v1)" "$one" "digest after the round trip"
hoist cp $A/multi:1 oci:$T/rtm:1
assert_eq "$(hoist digest oci:$T/rtm:1)" "$idx" "index into oci"
hoist cp oci:$T/rtm:1 $B/rtm:1
assert_eq "$(hoist digest $B/rtm:1)" "$idx" "index back into a registry"

say "a connection cut in the middle of a blob is retried and verified"
bg python3 "$SRCDIR/tests/lib/fault_proxy.py" --target "$A" --port-file "$T/proxy.port" \
	--log "$T/proxy.log" --cut-match 'GET /v2/app/blobs/sha256:' --cut-after 200000 --cut-times 1
for i in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
P=127.0.0.1:$(cat "$T/proxy.port")
hoist cp $P/app:v1 oci:$T/cut:v1
assert_eq "$(hoist digest oci:$T/cut:v1)" "$one" "digest after a cut connection"
layer=$(hoist manifest $A/app:v1 | jq -r '.layers[0].digest')
[ "$(grep -c "GET /v2/app/blobs/$layer" "$T/proxy.log")" -ge 2 ] || fail "the cut blob was not fetched again"

say "a corrupted blob fails the copy; nothing is tagged at the target"
make_layout "$T/src" bad corrupt-me >/dev/null
hoist cp oci:$T/src:bad $A/corrupt:v1
bad_layer=$(hoist manifest $A/corrupt:v1 | jq -r '.layers[0].digest')
hex=${bad_layer#sha256:}
f="$REG_a_DIR/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
[ -f "$f" ] || fail "cannot find the blob in A's storage: $f"
printf 'X' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
expect_fail "digest" hoist cp $A/corrupt:v1 $B/corrupt:v1
expect_fail "MANIFEST_UNKNOWN|NAME_UNKNOWN|not found|unknown" hoist digest $B/corrupt:v1
expect_fail "digest" hoist cp $A/corrupt:v1 oci:$T/corrupt:v1
echo "all good"
