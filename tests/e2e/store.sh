#!/usr/bin/env bash
# The local store ($HOIST_HOME): the default destination for names with no
# registry; images, rmi, gc; it is a valid OCI layout for skopeo.
. "$(dirname "$0")/../lib/common.sh"

want=$(make_layout "$T/src" v1 store-test)
other=$(make_layout "$T/src" v2 store-other)

say "an empty store lists nothing"
hoist images | grep '^NAME' >/dev/null || fail "images header"
assert_eq "$(hoist images --json)" "[]" "empty store json"

say "names without a registry go to the store"
hoist cp oci:$T/src:v1 myapp:1
hoist cp oci:$T/src:v2 local:example.com/team/other
[ -f "$HOIST_HOME/oci-layout" ] || fail "store is not an OCI layout"
hoist images | tee "$T/images.txt"
grep -Eq '^myapp +1 ' "$T/images.txt" || fail "myapp:1 not listed"
grep -Eq '^example.com/team/other +latest ' "$T/images.txt" || fail "other not listed"
assert_eq "$(hoist digest myapp:1)" "$want" "digest by bare name"
assert_eq "$(hoist digest local:myapp:1)" "$want" "digest by local: name"
assert_eq "$(hoist digest "local:myapp@$want")" "$want" "digest by local digest"
if have skopeo; then
	assert_eq "sha256:$(skopeo inspect --raw "oci:$HOIST_HOME:myapp:1" | sha256sum | cut -d' ' -f1)" "$want" "skopeo reads the store"
fi

say "HOIST_HOME and XDG_DATA_HOME pick the store"
(unset HOIST_HOME; export XDG_DATA_HOME="$T/xdg"; "$HOIST" cp oci:$T/src:v1 xdgimg:1 && [ -f "$T/xdg/hoist/index.json" ]) || fail "XDG_DATA_HOME"
(unset HOIST_HOME XDG_DATA_HOME; export HOME="$T/h"; "$HOIST" cp oci:$T/src:v1 homeimg:1 && [ -f "$T/h/.local/share/hoist/index.json" ]) || fail "HOME default"

say "copy to the same name again is a no-op"
hoist cp oci:$T/src:v1 myapp:1 2>&1 | grep "up to date" >/dev/null || fail "second copy not detected as up to date"

say "rmi removes the name and prunes blobs no one uses"
nblobs=$(ls "$HOIST_HOME/blobs/sha256" | wc -l)
hoist rmi example.com/team/other | grep "untagged: example.com/team/other:latest" >/dev/null
hoist images | grep other >/dev/null && fail "other still listed"
after=$(ls "$HOIST_HOME/blobs/sha256" | wc -l)
[ "$after" -lt "$nblobs" ] || fail "rmi did not prune ($nblobs -> $after)"
assert_eq "$(hoist digest myapp:1)" "$want" "myapp survives"
expect_fail "not found|no image" hoist rmi nosuch:tag

say "gc keeps what is referenced and removes stray blobs"
printf 'stray' >"$T/stray"
cp "$T/stray" "$HOIST_HOME/blobs/sha256/$(sha256 "$T/stray")"
hoist gc 2>&1 | grep "removed 1 unreferenced blobs" >/dev/null || fail "gc count"
[ -f "$HOIST_HOME/blobs/sha256/$(sha256 "$T/stray")" ] && fail "stray blob kept"
hoist cp myapp:1 oci:$T/out:v1
assert_eq "$(hoist digest oci:$T/out:v1)" "$want" "store content intact after gc"

say "concurrent copies into the store all land"
for i in 1 2 3 4 5 6; do hoist -q cp oci:$T/src:v$(( (i % 2) + 1 )) par:$i & done
wait
for i in 1 2 3 4 5 6; do hoist digest par:$i >/dev/null || fail "par:$i missing"; done
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$HOIST_HOME/index.json"
echo "all good"
