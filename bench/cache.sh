#!/usr/bin/env bash
# bench/cache.sh [--quick] HOIST
#
# The registry build cache (--cache-repo) on a machine that starts empty.
# A docker-registry on 127.0.0.1 holds the base image (a busybox image made
# offline with tests/lib/mkimage.sh) and the cache.  Machine A (its own
# HOIST_HOME) builds a Dockerfile of 3 COPY and 3 RUN steps (~7 MiB of
# context; the RUNs hash the sources, gzip the assets, create 2,000 files)
# with --cache-repo REG/cache -t REG/app:a, which fills the cache.  Then,
# alternating run by run, each hoist run on an EMPTY HOIST_HOME:
#   i.   cold:    hoist build --no-cache -t REG/app-cold-R:1
#   ii.  cached:  hoist build --cache-repo REG/cache -t REG/app-cached-R:1
#   iii. buildah: buildah build --layers (overlay driver when it works here,
#                 else vfs; --isolation chroot, --tls-verify=false, its
#                 default --pull) with its local cache warm: a fresh store
#                 builds once (not timed), the timed build is the second
#                 one in the same store; then `buildah push` of the result
#                 to REG/app-buildah-R:1, timed apart.
# hoist's output (--progress plain) is time-stamped line by line, which
# splits its time into the build (start to the last step's line) and the
# final push (from there to the "=> REG/..." line, printed once the image
# is in the registry).  The registry's access log gives the number of
# requests of each run.  Every image built must have A's digest.
#
# Target (issue 6): a build fully served from the registry cache on an empty
# machine finishes in under 1 s plus its final push.
# BENCH_RUNS (default 5) runs per tool; --quick: 2 runs, a smaller context.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init cache "$@"
have buildah || die "buildah is not installed (apt-get install buildah)"
SRC=$(cd "$BENCH_DIR/.." && pwd)
if [ $QUICK = 1 ]; then
	RUNS=$((RUNS > 2 ? 2 : RUNS)) NSRC=50 RAND_KIB=512 TEXT_KIB=256
else
	NSRC=300 RAND_KIB=4096 TEXT_KIB=2048
fi
say "date: $(date -u '+%Y-%m-%d %H:%M UTC'); runs: $RUNS"

# ---------------------------------------------------------------- set-up
start_registry R
say "registry: $REG_R"
CPU_PIDS="$REG_R_PID"
T="$W/mk"
mkdir -p "$T"
. "$SRC/tests/lib/mkimage.sh"
make_layout "$W/base" v1 cache-base >/dev/null
"$HOIST" -q cp "oci:$W/base:v1" "$REG_R/base:1" >>"$W/cmd.log" 2>&1

# the context
C="$W/ctx"
mkdir -p "$C/src" "$C/assets"
text_file $((NSRC * 5000)) "$W/text.pool"
split -a 3 -d -b 5000 --additional-suffix=.c "$W/text.pool" "$C/src/unit-"
head -c $((RAND_KIB * 1024)) /dev/urandom >"$C/assets/blob.bin"
text_file $((TEXT_KIB * 1024)) "$C/assets/notes.txt"
rm -f "$W/text.pool"
printf 'mode = production\nworkers = 4\n' >"$C/config.txt"
cat >"$C/Dockerfile" <<DF
FROM $REG_R/base:1
COPY src /src
RUN busybox mkdir -p /out && cd /src && busybox find . -type f | busybox sort | busybox xargs busybox sha256sum > /out/sums
COPY assets /assets
RUN busybox tar -C /assets -cf - . | busybox gzip -6 > /out/assets.tar.gz
RUN busybox mkdir -p /out/gen && cd /out/gen && busybox seq 1 2000 | busybox xargs busybox touch
COPY config.txt /etc/app.conf
ENV APP_MODE=prod
CMD ["/bin/sh"]
DF
STEPS=6 # COPY and RUN steps: what a cache serves
say "context: $(find "$C" -type f | wc -l) files, $(mib "$(du -sb --apparent-size "$C" | cut -f1)") MiB; $STEPS cached steps"

# Every store (HOIST_HOME, buildah's) is a new directory, deleted only at
# the end: on ext4 without a journal (this machine's disk) creating files is
# slower for 30 s after many were deleted (see bench/build.sh, settle).
NSTORE=0
new_dir() { NSTORE=$((NSTORE + 1)); NEW="$W/stores/$NSTORE"; mkdir -p "$NEW"; }
# buildah
BUILDAH=()
set_driver() {
	new_dir
	BST=$NEW
	BUILDAH=(buildah --root "$BST/root" --runroot "$BST/runroot" --storage-driver "$1")
	DRIVER=$1
}
# buildah's stores may hold files only its user namespace can delete when
# not run as root: delete them before lib.sh's cleanup deletes $W
rm_tree() {
	[ -e "$1" ] || return 0
	rm -rf "$1" 2>/dev/null || buildah unshare rm -rf "$1" || true
}
trap 'rc=$?; set +e; rm_tree "$W/stores"; (exit $rc); bench_cleanup' EXIT
bbuild() { # warm-up build, not timed
	private "${BUILDAH[@]}" build --layers --isolation chroot --tls-verify=false -t app:1 "$C" >>"$W/cmd.log" 2>&1
}
DRIVER=${BENCH_BUILDAH_DRIVER:-}
if [ -z "$DRIVER" ]; then
	set_driver overlay
	if ! bbuild; then
		say "buildah's overlay driver does not work here: using vfs"
		DRIVER=vfs
	fi
fi
say "buildah: $(buildah --version), storage driver $DRIVER, --isolation chroot"

# ------------------------------------------------------------ measuring
# stamp: each line of stdin prefixed with the time it was read
stamp() { while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
# hoist_build NAME EXPECT ARGS...: a timed `hoist build` on a new, empty
# HOIST_HOME; its summary must match EXPECT.  Adds NAME-build, NAME-push
# (from the time stamps) and NAME.req (requests: "total by-method").
hoist_build() {
	local name=$1 want=$2 out="$W/out.$1" r0 t0 ts tp home
	shift 2
	new_dir
	home=$NEW
	r0=$(requests "$REG_R_LOG")
	_hb() {
		printf '%s START\n' "$EPOCHREALTIME" >"$out"
		HOIST_HOME=$home /usr/bin/time -o "$W/.time.h" -f "$TIME_FMT" \
			"$HOIST" build --progress plain "$@" "$C" 2>&1 | stamp >>"$out"
		printf '%s END\n' "$EPOCHREALTIME" >>"$out"
	}
	RSS_FROM="$W/.time.h" timed "$name" _hb "$@"
	cat "$out" >>"$W/cmd.log"
	grep -E "^[0-9.]+ built .*$want" "$out" >/dev/null ||
		die "hoist build ($name) did not report /$want/: $(grep ' built ' "$out" || cat "$out")"
	# start, the last step's line, the first "=>" line
	t0=$(awk '$2 == "START" { print $1; exit }' "$out")
	ts=$(awk '$2 ~ /^\[[0-9]+\/[0-9]+\]$/ { t = $1 } END { print t }' "$out")
	tp=$(awk '$2 == "=>" { print $1; exit }' "$out")
	record "$name-build" "$(awk -v a="$t0" -v b="$ts" 'BEGIN { printf "%.3f", b - a }')"
	record "$name-push" "$(awk -v a="$ts" -v b="$tp" 'BEGIN { printf "%.3f", b - a }')"
	sleep 0.3 # the registry writes the access-log line after the response
	echo "$(($(requests "$REG_R_LOG") - r0)) [$(requests_by_method "$REG_R_LOG" "$r0")]" >"$W/$name.req"
	# the requests themselves, digests and keys shortened
	grep -E '^[0-9.:]+ - .*"[A-Z]+ /v2/' "$REG_R_LOG" | tail -n +"$((r0 + 1))" |
		sed -E 's/.*"([A-Z]+ [^ ]+) HTTP[^"]*" ([0-9]+) .*/\1 -> \2/; s/(sha256:|k-)([0-9a-f]{12})[0-9a-f]*/\1\2../g' >"$W/$name.reqlines"
}
digest_of() { "$HOIST" digest "$1"; }
lastv() { tail -1 "$W/series/$1"; }

say "machine A: a cold build filling the cache (--cache-repo $REG_R/cache -t $REG_R/app:a)"
hoist_build fill "\($STEPS steps, 0 cached, 3 RUN executed\)" --cache-repo "$REG_R/cache" -t "$REG_R/app:a"
WANT=$(digest_of "$REG_R/app:a")
echo "machine A: $LAST_SEC s (build $(lastv fill-build) s, push $(lastv fill-push) s), $(cut -d' ' -f1 "$W/fill.req") requests; image $WANT"

run_cold() { # R
	hoist_build cold "\($STEPS steps, 0 cached, 3 RUN executed\)" --no-cache -t "$REG_R/app-cold-$1:1"
	[ "$(digest_of "$REG_R/app-cold-$1:1")" = "$WANT" ] || die "the cold build's digest differs from A's (not reproducible)"
	LINE_COLD="cold $LAST_SEC s (build $(lastv cold-build) + push $(lastv cold-push)), $(cut -d' ' -f1 "$W/cold.req") req"
}
run_cached() { # R
	hoist_build cached "\($STEPS steps, $STEPS cached, 0 RUN executed\)" \
		--cache-repo "$REG_R/cache" -t "$REG_R/app-cached-$1:1"
	[ "$(digest_of "$REG_R/app-cached-$1:1")" = "$WANT" ] || die "the cached build's digest differs from A's"
	cp "$W/cached.req" "$W/cached.req.$1"
	LINE_CACHED="cached $LAST_SEC s (build $(lastv cached-build) + push $(lastv cached-push)), $(cut -d' ' -f1 "$W/cached.req") req"
}
run_buildah() { # R
	local m r0 n
	set_driver "$DRIVER"
	bbuild # fills its local cache, pulls the base
	sync
	m=$(wc -l <"$W/cmd.log")
	r0=$(requests "$REG_R_LOG")
	RSS_FROM="$W/.time.b" timed buildah private /usr/bin/time -o "$W/.time.b" -f "$TIME_FMT" \
		"${BUILDAH[@]}" build --layers --isolation chroot --tls-verify=false -t app:1 "$C"
	n=$(tail -n +"$((m + 1))" "$W/cmd.log" | grep -c -- '--> Using cache' || true)
	[ "$n" -ge "$STEPS" ] || die "buildah's second build used its cache for $n steps, want >= $STEPS"
	sleep 0.3
	echo "$(($(requests "$REG_R_LOG") - r0)) [$(requests_by_method "$REG_R_LOG" "$r0")]" >"$W/buildah.req"
	LINE_B="buildah warm $LAST_SEC s, $(cut -d' ' -f1 "$W/buildah.req") req"
	RSS_FROM="$W/.time.b" timed buildah-push private /usr/bin/time -o "$W/.time.b" -f "$TIME_FMT" \
		"${BUILDAH[@]}" push --tls-verify=false app:1 "docker://$REG_R/app-buildah-$1:1"
	LINE_B+=" + push $LAST_SEC s"
}

say "$RUNS runs each, alternating (cold, cached, buildah in a rotating order); hoist on an empty HOIST_HOME each run"
for r in $(seq 1 "$RUNS"); do
	case $((r % 3)) in
	1) run_cold "$r"; run_cached "$r"; run_buildah "$r" ;;
	2) run_cached "$r"; run_buildah "$r"; run_cold "$r" ;;
	0) run_buildah "$r"; run_cold "$r"; run_cached "$r" ;;
	esac
	echo "run $r/$RUNS: $LINE_COLD; $LINE_CACHED; $LINE_B  [load $(loadavg)]"
done

# ----------------------------------------------------------------- report
say "load average at end: $(loadavg)"
say "hoist's output for the last cached build (time-stamped):"
awk 'NR == 1 { t0 = $1 } { $1 = sprintf("%+8.3f", $1 - t0); print "   " $0 }' "$W/out.cached"
say "its registry requests:"
sed 's/^/   /' "$W/cached.reqlines"
echo
echo "Build with a registry cache on an empty machine ($STEPS COPY/RUN steps; registry on 127.0.0.1; buildah: $DRIVER driver)"
row_header "build"
row "A: cold, filling --cache-repo" fill
row "  of which build" fill-build
row "  of which final push" fill-push
row "i. hoist cold (--no-cache)" cold
row "  of which build" cold-build
row "  of which final push" cold-push
row "ii. hoist from registry cache" cached
row "  of which build" cached-build
row "  of which final push" cached-push
row "iii. buildah, local cache warm" buildah
row "  then buildah push" buildah-push
echo "(srv CPU: the registry's CPU seconds during the command; 'of which' rows come from hoist's time-stamped --progress plain output)"
echo "registry requests, last run: A $(cat "$W/fill.req"); cold $(cat "$W/cold.req"); cached $(cat "$W/cached.req")"
echo "                             buildah warm build $(cat "$W/buildah.req")"
echo

CO=$(median cold) CA=$(median cached) CB=$(median cached-build) CP=$(median cached-push) BU=$(median buildah)
TG=$(awk -v b="$CB" 'BEGIN { exit !(b < 1) }' && echo met || echo "NOT MET")
echo "SUMMARY cache: cached from the registry on an empty machine $CA s (build $CB s + final push $CP s;" \
	"target build < 1 s: $TG), $(cut -d' ' -f1 "$W/cached.req") registry requests; cold/cached $(calc "$CO / $CA") x" \
	"(cold $CO s); buildah with its local cache warm $BU s (+ push $(median buildah-push) s):" \
	"buildah-warm/hoist-cached $(calc "$BU / $CA") x"
