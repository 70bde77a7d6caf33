#!/usr/bin/env bash
# bench/copy.sh [--quick] HOIST
#
# Copies a multi-layer image (6 layers, ~400 MB, mostly incompressible)
# between two docker-registry instances on 127.0.0.1 with hoist and with
# `skopeo copy`, and moves the same blobs with plain curl (GET from A piped
# into a monolithic PUT to B) as the raw loopback reference.  Every cold
# run goes to a new repository, skopeo gets a fresh private blob-info
# cache each run, and the tools alternate run by run.  Then: the same copy
# once with an image twice as big (hoist's peak memory must not grow), and
# a "mirror with nothing new" (the copy again, onto an existing tag).
#
# Targets: skopeo/hoist >= 1.5; hoist peak RSS < 64 MiB; hoist time <=
# raw curl time / 0.8.  BENCH_RUNS (default 5) sets the runs per tool.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init copy "$@"

HAVE_SKOPEO=1
have skopeo || { HAVE_SKOPEO=0; say "skopeo is not installed: skipping skopeo"; }
have pigz && GZ=(pigz -p "$(nproc)" -6) || GZ=(gzip -6)

# Random MiB per layer; every layer also gets TEXT_MIB of text.
if [ $QUICK = 1 ]; then
	RAND=(15 12 9 6 4 2) TEXT_MIB=1
else
	RAND=(120 90 70 50 40 20) TEXT_MIB=4
fi
# The concurrency hoist uses by default: 2 per core, at least 4, at most 8.
JOBS=$(($(nproc) * 2)); [ $JOBS -lt 4 ] && JOBS=4; [ $JOBS -gt 8 ] && JOBS=8

# make_image DIR FACTOR: an OCI layout DIR:v1 made with tar, gzip and
# python3 only (so the input does not depend on hoist), layers FACTOR
# times the sizes above.
make_image() {
	local dir=$1 f=$2 i g="$W/gen"
	mkdir -p "$dir/blobs/sha256" "$g"
	text_file $((TEXT_MIB * f * 1048576)) "$g/text.src"
	: >"$g/layers"
	for i in "${!RAND[@]}"; do
		rm -rf "$g/l"
		mkdir -p "$g/l/data" "$g/l/doc"
		head -c $((RAND[i] * f * 1048576)) /dev/urandom >"$g/l/data/blob-$i.bin"
		cp "$g/text.src" "$g/l/doc/notes-$i.txt"
		printf 'layer %s of the copy benchmark\n' "$i" >"$g/l/doc/README"
		tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$g/l" -cf "$g/layer.tar" .
		sha256sum "$g/layer.tar" | cut -d' ' -f1 >"$g/diffid"
		"${GZ[@]}" <"$g/layer.tar" >"$g/layer.tgz"
		rm -f "$g/layer.tar"
		local dgst
		dgst=$(sha256sum "$g/layer.tgz" | cut -d' ' -f1)
		mv "$g/layer.tgz" "$dir/blobs/sha256/$dgst"
		echo "$dgst $(stat -c %s "$dir/blobs/sha256/$dgst") $(cat "$g/diffid")" >>"$g/layers"
	done
	python3 - "$dir" "$g/layers" <<'PY'
import hashlib, json, os, sys
d, layers = sys.argv[1], [l.split() for l in open(sys.argv[2])]
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(d, "blobs", "sha256", h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
cfg = json.dumps({"architecture": "amd64", "os": "linux",
    "created": "1970-01-01T00:00:00Z", "config": {"Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + l[2] for l in layers]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "bench layer %d" % i}
                for i in range(len(layers))]}).encode()
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(put(cfg), mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + l[0], "size": int(l[1])} for l in layers]}
m = put(json.dumps(man).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(m,
    mediaType="application/vnd.oci.image.manifest.v1+json",
    annotations={"org.opencontainers.image.ref.name": "v1"})]},
    open(os.path.join(d, "index.json"), "w"))
open(os.path.join(d, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
# the blobs a copy moves: config and layers
with open(os.path.join(d, "blobs.txt"), "w") as f:
    for b in [man["config"]] + man["layers"]:
        f.write("%s %d\n" % (b["digest"], b["size"]))
PY
	rm -rf "$g"
}

# push DIR REPO: the layout into registry A (with skopeo when there is one)
push() {
	if [ $HAVE_SKOPEO = 1 ]; then
		private skopeo copy -q --dest-tls-verify=false "oci:$1:v1" "docker://$REG_A/$2:v1"
	else
		"$HOIST" -q cp "oci:$1:v1" "$REG_A/$2:v1"
	fi >>"$W/cmd.log" 2>&1
}

# raw_blob SRCREPO DSTREPO DIGEST: GET from A piped into a monolithic
# upload to B (POST for a session, then PUT LOCATION&digest=...)
raw_blob() {
	local loc sep
	loc=$(curl -sS -f -X POST -D - -o /dev/null "http://$REG_B/v2/$2/blobs/uploads/" |
		tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	[ -n "$loc" ] || { echo "no upload Location from $REG_B" >&2; return 1; }
	case $loc in http*) ;; *) loc="http://$REG_B$loc" ;; esac
	case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
	curl -sS -f "http://$REG_A/v2/$1/blobs/$3" |
		curl -sS -f -X PUT -T - -H 'Expect:' -H 'Content-Type: application/octet-stream' \
			-o /dev/null "$loc${sep}digest=$3"
}
# raw_copy SRCREPO DSTREPO BLOBLIST JOBS: every blob, JOBS at a time
raw_copy() {
	cut -d' ' -f1 "$3" | xargs -P "$4" -I{} bash -c 'raw_blob "$@"' _ "$1" "$2" {}
}
export -f raw_blob raw_copy
export REG_A REG_B

# manifest_digest HOSTPORT REPO TAG
manifest_digest() {
	curl -sS -f -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$1/v2/$2/manifests/$3" | tr -d '\r' |
		awk 'tolower($1) == "docker-content-digest:" { print $2 }'
}

# ------------------------------------------------------------------ set-up
start_registry A
start_registry B
export REG_A REG_B
say "registries: A=$REG_A (source), B=$REG_B (destination)"
# the registries' CPU is recorded for every timed command ("srv CPU")
# shellcheck disable=SC2034 # read by timed in lib.sh
CPU_PIDS="$REG_A_PID $REG_B_PID"

say "making the image (${#RAND[@]} layers: ${RAND[*]} MiB random + $TEXT_MIB MiB text each)"
make_image "$W/img1" 1
push "$W/img1" src
SIZE1=$(awk '{ s += $2 } END { print s }' "$W/img1/blobs.txt")
cp "$W/img1/blobs.txt" "$W/blobs1.txt"
say "image: $(mib "$SIZE1") MiB in $(($(wc -l <"$W/blobs1.txt") - 1)) layers + config"
WANT=$(manifest_digest "$REG_A" src v1)
rm -rf "$W/img1"

# -------------------------------------------------------------- cold runs
say "cold copies A -> B (new repository each run), $RUNS runs each, alternating"
say "raw: curl GET | curl PUT per blob, $JOBS at a time (raw-par, hoist's default --jobs) and one at a time (raw-seq)"
for r in $(seq 1 "$RUNS"); do
	line="run $r/$RUNS:"
	timed hoist "$HOIST" -q cp "$REG_A/src:v1" "$REG_B/hoist-$r:v1"
	line+=" hoist $LAST_SEC s ($(mib $((LAST_RSS * 1024))) MiB)"
	if [ $HAVE_SKOPEO = 1 ]; then
		RSS_FROM="$W/.time.sk" timed skopeo private /usr/bin/time -o "$W/.time.sk" -f "$TIME_FMT" \
			skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
			"docker://$REG_A/src:v1" "docker://$REG_B/skopeo-$r:v1"
		line+=", skopeo $LAST_SEC s ($(mib $((LAST_RSS * 1024))) MiB)"
	fi
	timed rawpar bash -c 'raw_copy "$@"' _ src "rawp-$r" "$W/blobs1.txt" "$JOBS"
	line+=", raw-par $LAST_SEC s"
	timed rawseq bash -c 'raw_copy "$@"' _ src "raws-$r" "$W/blobs1.txt" 1
	line+=", raw-seq $LAST_SEC s  [load $(loadavg)]"
	echo "$line"
done
# the copies are complete and identical
got=$(manifest_digest "$REG_B" hoist-1 v1)
[ "$got" = "$WANT" ] || die "hoist's copy has digest '$got', want '$WANT'"
if [ $HAVE_SKOPEO = 1 ]; then
	got=$(manifest_digest "$REG_B" skopeo-1 v1)
	[ "$got" = "$WANT" ] || die "skopeo's copy has digest '$got', want '$WANT'"
fi
while read -r d s; do
	got=$(curl -sS -f -I "http://$REG_B/v2/rawp-1/blobs/$d" | tr -d '\r' |
		awk 'tolower($1) == "content-length:" { print $2 }')
	[ "$got" = "$s" ] || die "raw copy: blob $d has size '$got' in B, want $s"
done <"$W/blobs1.txt"

# ------------------------------------------------- twice as big, once each
say "an image twice as big, copied once by each (peak memory must not grow)"
make_image "$W/img2" 2
push "$W/img2" src2
SIZE2=$(awk '{ s += $2 } END { print s }' "$W/img2/blobs.txt")
rm -rf "$W/img2"
timed big-hoist "$HOIST" -q cp "$REG_A/src2:v1" "$REG_B/big-hoist:v1"
line="2x image ($(mib "$SIZE2") MiB): hoist $LAST_SEC s ($(mib $((LAST_RSS * 1024))) MiB)"
if [ $HAVE_SKOPEO = 1 ]; then
	RSS_FROM="$W/.time.sk" timed big-skopeo private /usr/bin/time -o "$W/.time.sk" -f "$TIME_FMT" \
		skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
		"docker://$REG_A/src2:v1" "docker://$REG_B/big-skopeo:v1"
	line+=", skopeo $LAST_SEC s ($(mib $((LAST_RSS * 1024))) MiB)"
fi
echo "$line"

# ------------------------------------------------ mirror with nothing new
say "mirror with nothing new: the same copy again onto an existing tag, $RUNS runs each"
mirror_run() { # NAME CMD...
	local name=$1 a b
	shift
	a=$(requests "$REG_A_LOG") b=$(requests "$REG_B_LOG")
	timed "$name" "$@"
	sleep 0.3 # the registries write the access-log line after the response
	echo "$(($(requests "$REG_A_LOG") - a)) $(($(requests "$REG_B_LOG") - b))" >"$W/$name.req"
	echo "A: $(requests_by_method "$REG_A_LOG" "$a"); B: $(requests_by_method "$REG_B_LOG" "$b")" >"$W/$name.reqm"
}
for r in $(seq 1 "$RUNS"); do
	mirror_run mirror-hoist "$HOIST" -q cp "$REG_A/src:v1" "$REG_B/hoist-1:v1"
	line="run $r/$RUNS: hoist $LAST_SEC s"
	if [ $HAVE_SKOPEO = 1 ]; then
		RSS_FROM="$W/.time.sk" mirror_run mirror-skopeo private /usr/bin/time -o "$W/.time.sk" -f "$TIME_FMT" \
			skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
			"docker://$REG_A/src:v1" "docker://$REG_B/skopeo-1:v1"
		line+=", skopeo $LAST_SEC s"
	fi
	echo "$line"
done
reqs() { awk '{ print $1 + $2 " (A " $1 ", B " $2 ")" }' "$W/$1.req"; }

# ----------------------------------------------------------------- report
say "load average at end: $(loadavg)"
echo
echo "Copy between two local registries, $(mib "$SIZE1") MiB ($SIZE1 bytes) in $(($(wc -l <"$W/blobs1.txt") - 1)) layers + config; cold: new repository per run"
row_header "tool"
row "hoist cp" hoist "$SIZE1"
[ $HAVE_SKOPEO = 1 ] && row "skopeo copy" skopeo "$SIZE1"
row "raw curl GET|PUT, $JOBS parallel" rawpar "$SIZE1"
row "raw curl GET|PUT, sequential" rawseq "$SIZE1"
echo "(MB/s: image bytes per second; CPU s: the client's user+system seconds; srv CPU: both registries' CPU seconds meanwhile)"
row "hoist cp, 2x image" big-hoist "$SIZE2"
[ $HAVE_SKOPEO = 1 ] && row "skopeo copy, 2x image" big-skopeo "$SIZE2"
row "hoist cp, nothing new" mirror-hoist
[ $HAVE_SKOPEO = 1 ] && row "skopeo copy, nothing new" mirror-skopeo
echo "requests for a copy with nothing new: hoist $(reqs mirror-hoist) [$(cat "$W/mirror-hoist.reqm")]"
[ $HAVE_SKOPEO = 1 ] && echo "                                       skopeo $(reqs mirror-skopeo) [$(cat "$W/mirror-skopeo.reqm")]"
echo

H=$(median hoist)
RAWP=$(median rawpar) RAWS=$(median rawseq)
RAW=$(awk -v a="$RAWP" -v b="$RAWS" 'BEGIN { print (a < b) ? a : b }')
RAWLBL=$(awk -v a="$RAWP" -v b="$RAWS" 'BEGIN { print (a < b) ? "parallel" : "sequential" }')
RSS1=$(max_rss_mib hoist) RSS2=$(max_rss_mib big-hoist)
RSSMAX=$(awk -v a="$RSS1" -v b="$RSS2" 'BEGIN { print (a > b) ? a : b }')
PCT_T=$(calc "100 * $H / $RAW") PCT_TP=$(calc "100 * $RAW / $H")
if [ $HAVE_SKOPEO = 1 ]; then
	S=$(median skopeo)
	RATIO=$(calc "$S / $H")
	sk="skopeo/hoist $RATIO x (hoist $H s, skopeo $S s; target >= 1.5x: $(met "$RATIO" 1.5);"
	sk+=" CPU s client/registries: hoist $(median_of hoist.cpu)/$(median_of hoist.pcpu), skopeo $(median_of skopeo.cpu)/$(median_of skopeo.pcpu), curl $(median_of rawpar.cpu)/$(median_of rawpar.pcpu))"
	skm=", skopeo $(median mirror-skopeo) s / $(reqs mirror-skopeo | cut -d' ' -f1) requests"
else
	sk="skopeo not installed: ratio not measured (hoist $H s)"
	skm=
fi
rsst=$(awk -v a="$RSSMAX" 'BEGIN { exit !(a < 64) }' && echo met || echo "NOT MET")
echo "SUMMARY copy $(mib "$SIZE1") MiB: $sk; hoist peak RSS $RSS1 MiB, 2x image $RSS2 MiB (target < 64 MiB: $rsst);" \
	"raw curl ($RAWLBL) $RAW s, hoist time = $PCT_T% of raw = $PCT_TP% of raw throughput (target >= 80%: $(met "$PCT_TP" 80));" \
	"nothing new: hoist $(median mirror-hoist) s / $(reqs mirror-hoist | cut -d' ' -f1) requests$skm"
