#!/usr/bin/env bash
# The build cache shared through a registry (--cache-repo): machine B (an
# empty HOIST_HOME) builds what machine A built, runs no RUN, downloads no
# layer, gets the same digest; a changed source re-runs only the steps
# after it.  Cache mounts persist between builds and stay out of the
# image; secrets never reach a layer or the cache; two builds at once share
# the local cache.
. "$(dirname "$0")/../lib/common.sh"

start_registry r
R=$REG_r
make_layout "$T/base" v1 cache-base >/dev/null
hoist -q cp oci:$T/base:v1 $R/base:1
blob_gets() { grep -cE "\"GET /v2/[^ ]*/blobs/sha256:$1 HTTP" "$REG_r_LOG" || true; }

mkdir -p "$T/ctx"
cd "$T/ctx"
printf 'first source\n' >a.txt
printf 'second source\n' >b.txt
cat >Dockerfile <<DF
FROM $R/base:1
COPY a.txt /src/a.txt
RUN cat /src/a.txt > /out-a && echo step-two >> /out-a
COPY b.txt /src/b.txt
RUN cat /src/b.txt > /out-b
RUN echo final > /out-c
CMD ["cat", "/out-a", "/out-b"]
DF

say "machine A builds and fills the registry cache"
HOIST_HOME="$T/machine-a" "$HOIST" build --progress plain --cache-repo $R/buildcache -t $R/app:a . >"$T/a.log" 2>&1 \
	|| { cat "$T/a.log"; fail "build on A"; }
grep "3 RUN executed" "$T/a.log" >/dev/null || fail "A did not run its 3 RUN steps"
da=$(hoist digest $R/app:a)
hoist ls $R/buildcache | grep '^k-' >/dev/null || fail "no cache records in the registry"

say "machine B (empty) builds the same: no RUN, no layer download, same digest"
layers=$(hoist manifest $R/app:a | jq -r '.layers[].digest' | sed 's/^sha256://')
declare -A before
for l in $layers; do before[$l]=$(blob_gets "$l"); done
reqs_before=$(grep -cE '"(GET|HEAD|PUT|POST|PATCH) /v2/' "$REG_r_LOG")
t0=$(date +%s.%N)
HOIST_HOME="$T/machine-b" "$HOIST" build --progress plain --cache-repo $R/buildcache -t $R/app:b . >"$T/b.log" 2>&1 \
	|| { cat "$T/b.log"; fail "build on B"; }
t1=$(date +%s.%N)
grep "0 RUN executed" "$T/b.log" >/dev/null || { cat "$T/b.log"; fail "B ran RUN steps"; }
[ "$(grep -c 'CACHED (' "$T/b.log")" -ge 5 ] || fail "B did not hit the cache for every step"
assert_eq "$(hoist digest $R/app:b)" "$da" "digest on B"
for l in $layers; do
	assert_eq "$(blob_gets "$l")" "${before[$l]}" "downloads of layer $l during B's build"
done
reqs=$(( $(grep -cE '"(GET|HEAD|PUT|POST|PATCH) /v2/' "$REG_r_LOG") - reqs_before ))
printf '   B: fully cached build in %.2fs, %d registry requests\n' "$(echo "$t1 - $t0" | bc)" "$reqs"
assert_eq "$(HOIST_HOME="$T/machine-b" "$HOIST" run $R/app:b)" "$(printf 'first source\nstep-two\nsecond source')" "B's image runs"

say "a clean build on another empty machine gives the image the cache gave"
HOIST_HOME="$T/machine-e" "$HOIST" build --progress plain --no-cache -t $R/app:e . >"$T/e.log" 2>&1 \
	|| { cat "$T/e.log"; fail "clean build on E"; }
grep "3 RUN executed" "$T/e.log" >/dev/null || fail "E did not run its 3 RUN steps"
assert_eq "$(hoist digest $R/app:e)" "$da" "digest of a clean build on E"

say "a changed source on B re-runs only the steps after the first one reading it"
printf 'second source, changed\n' >b.txt
HOIST_HOME="$T/machine-b" "$HOIST" build --progress plain --cache-repo $R/buildcache -t $R/app:b2 . >"$T/b2.log" 2>&1 \
	|| { cat "$T/b2.log"; fail "rebuild on B"; }
grep "2 RUN executed" "$T/b2.log" >/dev/null || { cat "$T/b2.log"; fail "expected exactly the 2 RUN steps after COPY b.txt to run"; }
grep -A1 'RUN cat /src/a.txt' "$T/b2.log" | grep CACHED >/dev/null || fail "the step before the change did not hit"
assert_eq "$(HOIST_HOME="$T/machine-b" "$HOIST" run $R/app:b2 cat /out-b)" "second source, changed" "changed content"
say "  and machine A picks up B's new steps from the registry"
HOIST_HOME="$T/machine-a" "$HOIST" build --cache-repo $R/buildcache -t $R/app:a2 . >"$T/a2.log" 2>&1 || fail "rebuild on A"
grep "0 RUN executed" "$T/a2.log" >/dev/null || { cat "$T/a2.log"; fail "A re-ran steps B had pushed"; }
assert_eq "$(hoist digest $R/app:a2)" "$(hoist digest $R/app:b2)" "A and B agree"

say "an earlier image as the cache (--cache-to type=inline, --cache-from IMAGE)"
HOIST_HOME="$T/machine-c" "$HOIST" build --cache-to type=inline -t $R/app:inline . >"$T/c.log" 2>&1 \
	|| { cat "$T/c.log"; fail "inline build on C"; }
hoist manifest $R/app:inline | jq -e '.annotations["dev.hoist.cache.v1"] | fromjson | .layers | length == 5' >/dev/null \
	|| fail "the image carries no inline cache"
HOIST_HOME="$T/machine-d" "$HOIST" build --progress plain --cache-from $R/app:inline --cache-to type=inline -t $R/app:d . >"$T/d.log" 2>&1 \
	|| { cat "$T/d.log"; fail "build on D from the inline cache"; }
grep "0 RUN executed" "$T/d.log" >/dev/null || { cat "$T/d.log"; fail "D ran RUN steps despite the inline cache"; }
assert_eq "$(hoist digest $R/app:d)" "$(hoist digest $R/app:inline)" "inline-cached build digest"

say "a cache mount persists between builds and stays out of the image"
mkdir -p "$T/cm" && cd "$T/cm"
cat >Dockerfile <<'DF'
FROM local-base:1
RUN --mount=type=cache,target=/var/cache/pkg,sharing=locked \
    if [ -f /var/cache/pkg/fetched ]; then echo CACHE-MOUNT-HIT; else sleep 2; echo payload > /var/cache/pkg/fetched; fi; \
    cp /var/cache/pkg/fetched /installed
DF
export HOIST_HOME="$T/cm-home"
hoist -q cp oci:$T/base:v1 local-base:1
s0=$(date +%s.%N)
hoist build -t cm:1 . >"$T/cm1.log" 2>&1 || { cat "$T/cm1.log"; fail "cache mount build 1"; }
s1=$(date +%s.%N)
hoist build --no-cache -t cm:2 . >"$T/cm2.log" 2>&1 || { cat "$T/cm2.log"; fail "cache mount build 2"; }
s2=$(date +%s.%N)
grep CACHE-MOUNT-HIT "$T/cm2.log" >/dev/null || fail "the second build did not see the cache mount's content"
first=$(echo "$s1 - $s0" | bc); second=$(echo "$s2 - $s1" | bc)
printf '   package-like step: %.2fs cold, %.2fs with the cache mount filled\n' "$first" "$second"
[ "$(echo "$second < $first" | bc)" = 1 ] || fail "the re-run was not faster"
hoist export cm:2 "$T/cm-root"
assert_eq "$(cat "$T/cm-root/installed")" payload "the step's output"
[ ! -e "$T/cm-root/var/cache/pkg/fetched" ] || fail "cache mount content leaked into the image"
hoist ls-layer cm:2 | grep 'var/cache/pkg' >/dev/null && fail "the cache mount dir is in a layer"

say "a secret is usable in RUN and never written to a layer or the cache"
mkdir -p "$T/sec" && cd "$T/sec"
SECRET="s3cr3t-$RANDOM$RANDOM-token"
printf '%s' "$SECRET" >"$T/secret.txt"
cat >Dockerfile <<'DF'
FROM local-base:1
RUN --mount=type=secret,id=tok test "$(cat /run/secrets/tok | wc -c)" -gt 10 && echo used > /used
RUN --mount=type=secret,id=tok,target=/etc/tok,required=true cp /etc/tok /etc/tok-copy-attempt 2>/dev/null; cat /run/secrets/tok 2>/dev/null; ls /run/secrets 2>/dev/null; true
DF
hoist build --secret id=tok,src="$T/secret.txt" -t sec:1 . >"$T/sec.log" 2>&1 || { cat "$T/sec.log"; fail "secret build"; }
# the second RUN copied it on purpose: that copy is its own doing; the
# mount itself must leave nothing behind
hoist run sec:1 cat /used | grep used >/dev/null || fail "the secret was not usable"
found=0
for f in "$HOIST_HOME"/blobs/sha256/*; do
	if (zcat -f "$f" 2>/dev/null || cat "$f") | grep -a -F -- "$SECRET" >/dev/null; then
		tar -tvzf "$f" 2>/dev/null | grep -v tok-copy-attempt >/dev/null || true
		# only the layer with the deliberate copy may contain it
		zcat -f "$f" 2>/dev/null | tar -t 2>/dev/null | grep -x 'etc/tok-copy-attempt' >/dev/null || found=1
	fi
done
[ $found = 0 ] || fail "the secret is in a blob"
grep -rF -- "$SECRET" "$HOIST_HOME/cache" >/dev/null && fail "the secret is in a cache record"
printf 'FROM local-base:1\nRUN --mount=type=secret,id=tok,required=true true\n' >Dockerfile.req
expect_fail "Dockerfile.req:2: RUN: secret 'tok' is required" hoist build -f Dockerfile.req -t sec:2 .

say "two builds at once share the local cache"
cd "$T/ctx"
export HOIST_HOME="$T/parallel"
hoist -q cp oci:$T/base:v1 local-base:1
sed "s|FROM $R/base:1|FROM local-base:1|" Dockerfile >Dockerfile.local
( hoist build -q -f Dockerfile.local -t par:1 . >"$T/p1.out" 2>&1 ) &
p1=$!
( hoist build -q -f Dockerfile.local -t par:2 . >"$T/p2.out" 2>&1 ) &
p2=$!
wait $p1 || { cat "$T/p1.out"; fail "parallel build 1"; }
wait $p2 || { cat "$T/p2.out"; fail "parallel build 2"; }
assert_eq "$(hoist digest par:1)" "$(hoist digest par:2)" "parallel builds agree"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$HOIST_HOME/index.json"
hoist build -f Dockerfile.local -t par:3 . 2>&1 | grep "0 RUN executed" >/dev/null || fail "the cache is not usable after parallel builds"
echo "all good"
