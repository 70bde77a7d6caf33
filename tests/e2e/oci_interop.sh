#!/usr/bin/env bash
# OCI layouts written by hoist are read by skopeo and umoci, and layouts
# written by them (and by plain shell tools) are read by hoist, with the
# same digests both ways.  Indexes keep their digest; --platform picks one.
. "$(dirname "$0")/../lib/common.sh"

say "an image made with shell tools is read by hoist"
want=$(make_layout "$T/src" v1 first)
assert_eq "$(hoist digest oci:$T/src:v1)" "$want" "hoist digest"
hoist manifest oci:$T/src:v1 >"$T/m.json"
assert_eq "sha256:$(sha256 "$T/m.json")" "$want" "raw manifest bytes"
hoist inspect oci:$T/src:v1 | tee "$T/inspect.txt"
grep -q "^Digest: *$want" "$T/inspect.txt" || fail "inspect lacks digest"
grep -q "^Platform: *linux/amd64" "$T/inspect.txt" || fail "inspect lacks platform"
grep -q "mark=first" "$T/inspect.txt" || fail "inspect lacks label"
hoist inspect --json oci:$T/src:v1 >"$T/inspect.json"
assert_eq "$(jq -r .digest "$T/inspect.json")" "$want" "inspect --json digest"
assert_eq "$(jq -r '.layers | length' "$T/inspect.json")" 1 "layer count"
assert_eq "$(jq -r '.cmd[0]' "$T/inspect.json")" /bin/sh "cmd"
hoist config oci:$T/src:v1 | jq -e '.config.Labels.mark == "first"' >/dev/null
hoist history oci:$T/src:v1 | grep "make_layout first" >/dev/null || fail "history"

say "hoist writes a layout that skopeo and umoci read"
hoist cp oci:$T/src:v1 oci:$T/dst:v1
assert_eq "$(hoist digest oci:$T/dst:v1)" "$want" "digest after hoist cp"
if have skopeo; then
	skopeo inspect --raw oci:$T/dst:v1 >"$T/sk.json"
	assert_eq "sha256:$(sha256 "$T/sk.json")" "$want" "skopeo inspect --raw"
	skopeo inspect oci:$T/dst:v1 | jq -e '.Architecture == "amd64"' >/dev/null
else
	echo "skopeo not installed: skipping skopeo checks"
fi
if have umoci; then
	umoci stat --image "$T/dst:v1" --json | jq -e '.history | length == 1' >/dev/null
	umoci unpack --rootless --image "$T/dst:v1" "$T/bundle" >/dev/null
	assert_eq "$(cat "$T/bundle/rootfs/etc/mark")" first "umoci unpack content"
else
	echo "umoci not installed: skipping umoci checks"
fi

say "layouts written by skopeo and umoci are read by hoist"
if have skopeo; then
	skopeo copy -q oci:$T/src:v1 oci:$T/sk:s1
	skd=$(skopeo inspect --raw oci:$T/sk:s1 | sha256sum | cut -d' ' -f1)
	assert_eq "$(hoist digest oci:$T/sk:s1)" "sha256:$skd" "skopeo-written digest"
	hoist cp oci:$T/sk:s1 oci:$T/from-sk:x
	assert_eq "$(hoist digest oci:$T/from-sk:x)" "sha256:$skd" "copy of skopeo image"
fi
if have umoci; then
	umoci init --layout "$T/um"
	umoci new --image "$T/um:base"
	umoci config --image "$T/um:base" --config.cmd /bin/true --config.label who=umoci
	umd=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="base") | .digest' "$T/um/index.json")
	assert_eq "$(hoist digest oci:$T/um:base)" "$umd" "umoci-written digest"
	hoist inspect --json oci:$T/um:base | jq -e '.labels.who == "umoci"' >/dev/null
	hoist cp oci:$T/um:base oci:$T/from-um:y
	assert_eq "$(hoist digest oci:$T/from-um:y)" "$umd" "copy of umoci image"
	umoci stat --image "$T/from-um:y" >/dev/null
fi

say "an index is copied whole, digests equal; --platform picks one image"
idx=$(make_index_layout "$T/multi" m1)
hoist cp oci:$T/multi:m1 oci:$T/multi-copy:m1
assert_eq "$(hoist digest oci:$T/multi-copy:m1)" "$idx" "index digest"
hoist inspect oci:$T/multi-copy:m1 | grep "linux/arm64/v8" >/dev/null || fail "index platforms"
arm=$(hoist digest --platform linux/arm64 oci:$T/multi:m1)
[ "$arm" != "$idx" ] || fail "platform digest equals index digest"
hoist cp --platform linux/arm64 oci:$T/multi:m1 oci:$T/arm-only:a
assert_eq "$(hoist digest oci:$T/arm-only:a)" "$arm" "platform copy digest"
hoist config oci:$T/arm-only:a | jq -e '.architecture == "arm64"' >/dev/null
if have skopeo; then
	assert_eq "sha256:$(skopeo inspect --raw oci:$T/multi-copy:m1 | sha256sum | cut -d' ' -f1)" "$idx" "skopeo sees the index"
fi

say "docker-archive round trip keeps the manifest digest"
hoist cp oci:$T/src:v1 docker-archive:$T/img.tar:example.com/app:v1
tar -tf "$T/img.tar" | grep '^manifest.json$' >/dev/null || fail "no manifest.json in archive"
if have skopeo; then
	skopeo inspect docker-archive:$T/img.tar | jq -e '.RepoTags | index("example.com/app:v1") != null' >/dev/null \
		|| skopeo inspect docker-archive:$T/img.tar >/dev/null
fi
hoist cp docker-archive:$T/img.tar oci:$T/back:v1
assert_eq "$(hoist digest oci:$T/back:v1)" "$want" "digest after docker-archive round trip"
echo "all good"
