#!/usr/bin/env bash
# hoist build and hoist run as an unprivileged user (a user made for the
# test, deleted at the end even on failure; run by a non-root user, the
# test uses that user instead).
#
#   1. single-id mapping (no /etc/subuid entry): a RUN, a COPY (with
#      --chown), a multi-stage COPY --from, a RUN deleting a base file, a
#      USER; the layers record root (not the user's uid) for what RUN
#      wrote; the image is the one root builds from the same context;
#      hoist run; the cache.
#   2. subordinate ids (a range in /etc/subuid and /etc/subgid, backed up
#      and restored): a RUN that chowns to uid 1000 and RUN steps as USER
#      1000 work and the layer records uid 1000; hoist run as USER 1000;
#      an image with files owned by 1000 used as a base (unpacked afresh).
. "$(dirname "$0")/../lib/common.sh"
have jq || skip "jq not installed"
have unshare || skip "unshare (util-linux) not installed"

case "$(uname -m)" in
x86_64) ARCH=amd64 ;;
aarch64) ARCH=arm64 ;;
*) ARCH=$(uname -m) ;;
esac

_RC=0
NAME=
MADE_USER=false
SUBID_SAVED=false
rootless_cleanup() {
	_RC=$?
	set +e
	if $SUBID_SAVED; then
		local f
		for f in subuid subgid; do
			if [ -e "$T/$f.orig" ]; then
				cat "$T/$f.orig" >"/etc/$f" && chmod --reference="$T/$f.orig" "/etc/$f"
			elif [ -e "$T/$f.absent" ]; then
				rm -f "/etc/$f"
			fi
		done
	fi
	if $MADE_USER && id "$NAME" >/dev/null 2>&1; then
		userdel -r "$NAME" >/dev/null 2>&1 || userdel "$NAME" >/dev/null 2>&1
		# files a subordinate uid owns are in the home too: userdel -r
		# removes them as root; make sure
		[ -d "/home/$NAME" ] && rm -rf "/home/$NAME"
		id "$NAME" >/dev/null 2>&1 && echo "WARNING: could not delete user $NAME" >&2
	fi
	return 0
}
trap 'rootless_cleanup; if [ "$_RC" = 0 ]; then cleanup; else (exit "$_RC") || cleanup; fi' EXIT

if [ "$(id -u)" = 0 ]; then
	have useradd && have userdel || skip "useradd/userdel not installed"
	have setpriv || skip "setpriv (util-linux) not installed"
	# useradd may add subordinate ids for the new user: back the files up
	# before it runs; they are put back on exit
	for f in subuid subgid; do
		if [ -e "/etc/$f" ]; then cp -p "/etc/$f" "$T/$f.orig"; else : >"$T/$f.absent"; fi
	done
	SUBID_SAVED=true
	NAME=hoist-e2e-$$
	useradd -m -s /bin/sh -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$NAME" ||
		fail "useradd $NAME failed"
	MADE_USER=true
	RU=$(id -u "$NAME")
	RG=$(id -g "$NAME")
	UH=$(getent passwd "$NAME" | cut -d: -f6)
	[ -d "$UH" ] || fail "useradd made no home for $NAME"
	# no subordinate ids for phase 1, whatever useradd did
	for f in subuid subgid; do
		[ -e "/etc/$f" ] && sed -i "/^$NAME:/d; /^$RU:/d" "/etc/$f"
	done
else
	NAME=$(id -un)
	RU=$(id -u)
	RG=$(id -g)
	UH=$T/user-home
	mkdir -p "$UH"
	if grep -qE "^($NAME|$RU):" /etc/subuid 2>/dev/null; then
		skip "run by $NAME, who has /etc/subuid entries: the single-id case cannot be tested (run as root)"
	fi
fi
say "running hoist as $NAME (uid $RU, gid $RG), home $UH"

# what the user needs, where it can read it
mkdir -p "$T/bin"
cp "$HOIST" "$T/bin/hoist"
chmod 0755 "$T/bin" "$T/bin/hoist"
U=$T/u
mkdir -p "$U"

# as_user CMD...: runs CMD as the user, in $U, with a clean environment
# (the sanitizer options of the test runner kept) and HOIST_HOME in its home
as_user() {
	local envs=(HOME="$UH" USER="$NAME" LOGNAME="$NAME" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
		HOIST_HOME="$UH/hoist-store" TMPDIR="$UH/tmp")
	local v
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS MSAN_OPTIONS; do
		[ -n "${!v:-}" ] && envs+=("$v=${!v}")
	done
	if [ "$(id -u)" = 0 ]; then
		(cd "$U" && setpriv --reuid="$RU" --regid="$RG" --init-groups env -i "${envs[@]}" "$@")
	else
		(cd "$U" && env -i "${envs[@]}" "$@")
	fi
}
uh() { as_user "$T/bin/hoist" "$@"; }
# ubuild LOG ARGS...: hoist build as the user; prints the digest
ubuild() {
	local log=$1; shift
	local out rc=0
	out=$(uh build "$@" 2>"$log") || rc=$?
	if [ $rc -ne 0 ]; then
		sed 's/^/   | /' "$log" >&2
		fail "hoist build $* (as $NAME) exited $rc"
	fi
	if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error:' "$log"; then
		cat "$log" >&2
		fail "sanitizer report in hoist build $* (as $NAME)"
	fi
	printf '%s\n' "$out" | tail -1
}
ran() { sed -n 's/^built .*, \([0-9]*\) RUN executed)$/\1/p' "$1" | tail -1; }

# user namespaces for this user?
if ! as_user unshare --user --map-root-user true 2>"$T/unshare.err"; then
	skip "user namespaces are not available to $NAME: $(cat "$T/unshare.err")"
fi
as_user mkdir -p "$UH/tmp" || fail "the user cannot write its home"
[ "$(as_user id -u)" = "$RU" ] || fail "as_user does not run as $NAME"

say "a busybox base, copied into the user's store"
make_layout "$T/base" busybox e2e-rootless "$ARCH" >/dev/null
chmod -R a+rX "$T/base"
uh -q cp oci:"$T/base":busybox local:e2e/busybox:1 >/dev/null
hoist -q cp oci:"$T/base":busybox local:e2e/busybox:1 >/dev/null # root's store, to compare

# the contexts, owned by the user
mkdir -p "$U/core" "$U/chown" "$U/child"
printf '#!/bin/sh\necho "rootless hello from uid $(id -u): $(cat /app/out/artifact)"\n' >"$U/core/app.sh"
printf 'data for uid 1000\n' >"$U/core/data.txt"
chmod 0644 "$U/core/app.sh" "$U/core/data.txt"
cat >"$U/core/Dockerfile" <<'DF'
FROM e2e/busybox:1 AS builder
RUN busybox --install -s /bin && mkdir -p /out && echo built-rootless > /out/artifact && id -u > /out/builder-uid

FROM e2e/busybox:1
COPY app.sh /app/run.sh
COPY --chown=1000:1000 data.txt /app/data.txt
COPY --from=builder /out/ /app/out/
RUN rm /etc/mark && echo "ran as $(id -u):$(id -g)" > /app/ran.txt && mkdir /app/made-by-run
USER 1000:1000
ENTRYPOINT ["/bin/sh", "/app/run.sh"]
DF
cat >"$U/chown/Dockerfile" <<'DF'
FROM e2e/busybox:1
RUN busybox --install -s /bin && \
    echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd && \
    echo 'app:x:1000:' >> /etc/group
RUN mkdir -p /home/app /data && echo mine > /data/owned && chown -R 1000:1000 /data /home/app && \
    chown 1000:0 /etc/mark && stat -c '%u:%g' /data/owned > /chowned
USER app
WORKDIR /home/app/work
RUN id -u > /home/app/uid && touch /data/by-app && pwd > /home/app/here
CMD ["id"]
DF
cat >"$U/child/Dockerfile" <<'DF'
ARG BASE
FROM ${BASE}
USER app
RUN stat -c '%u:%g' /data/owned > /home/app/seen && touch /data/child-wrote
DF
chown -R "$RU:$RG" "$U"

say "1. single-id mapping (no subordinate ids): build as $NAME"
D1=$(ubuild "$T/core.log" -t e2e/core:1 core)
grep -qi 'single-id\|only root inside is mapped\|no subordinate ids' "$T/core.log" ||
	echo "   (no single-id mapping warning in the log)"
assert_eq "$(ran "$T/core.log")" 2 "RUNs of the rootless build"
uh export e2e/core:1 "$U/rootfs"
R=$U/rootfs
assert_eq "$(cat "$R/app/out/artifact")" built-rootless "COPY --from a stage built rootless"
assert_eq "$(cat "$R/app/out/builder-uid")" 0 "id -u in a rootless RUN"
assert_eq "$(cat "$R/app/ran.txt")" "ran as 0:0" "id in a rootless RUN"
[ -e "$R/app/run.sh" ] || fail "COPY app.sh is missing"
[ ! -e "$R/etc/mark" ] || fail "RUN rm /etc/mark: the file is still there"
uh export e2e/core:1 - >"$T/core.tar"
tar -tvf "$T/core.tar" --numeric-owner >"$T/core.lst"
grep -E ' etc/mark$' "$T/core.lst" && fail "the flattened export has etc/mark"
grep -E '^-rw-r--r-- 1000/1000 .* app/data.txt$' "$T/core.lst" >/dev/null ||
	fail "COPY --chown=1000:1000 as $NAME: $(grep data.txt "$T/core.lst")"
# the layer of the COPY --chown itself: /app existed before it (made by
# the COPY above), so its owner stays 0:0; only data.txt is 1000's
blob=$(uh manifest e2e/core:1 | jq -r '.layers[2].digest')
tar -tzvf "$UH/hoist-store/blobs/sha256/${blob#sha256:}" --numeric-owner >"$T/chown-layer.lst"
grep -E '^-rw-r--r-- 1000/1000 .* app/data.txt$' "$T/chown-layer.lst" >/dev/null ||
	fail "layer 2 is not the COPY --chown layer: $(cat "$T/chown-layer.lst")"
if grep -E ' app/$' "$T/chown-layer.lst" | grep -vE '^d[rwx-]{9} 0/0 ' >/dev/null; then
	fail "rootless COPY --chown=1000:1000 data.txt /app/data.txt changed the owner of the existing /app: $(grep -E ' app/$' "$T/chown-layer.lst")"
fi
grep -E '^-rw-r--r-- 0/0 .* app/ran.txt$' "$T/core.lst" >/dev/null ||
	fail "a file a rootless RUN wrote is not owned by 0:0 in the layer: $(grep ran.txt "$T/core.lst")"
grep -E '^drwxr-xr-x 0/0 .* app/made-by-run/$' "$T/core.lst" >/dev/null ||
	fail "a directory a rootless RUN made: $(grep made-by-run "$T/core.lst")"
if [ "$RU" != 0 ] && [ "$RU" != 1000 ]; then
	own=$(awk -v u="$RU" '{ split($2, o, "/"); if (o[1] == u || o[2] == u) print }' "$T/core.lst")
	[ -z "$own" ] || fail "the layers record the user's own uid $RU: $own"
fi
uh ls-layer e2e/core:1 >"$T/core.ls"
grep -q '^  D /etc/mark$' "$T/core.ls" || fail "ls-layer shows no deletion of /etc/mark"
uh config e2e/core:1 | jq -e '.config.User == "1000:1000" and .config.Entrypoint == ["/bin/sh","/app/run.sh"]' >/dev/null ||
	fail "USER/ENTRYPOINT in the config: $(uh config e2e/core:1 | jq -c .config)"
assert_eq "$(uh run --user 0 e2e/core:1)" "rootless hello from uid 0: built-rootless" "hoist run --user 0 as $NAME"
assert_eq "$(uh run --entrypoint "" --user 0 e2e/core:1 ls /etc | grep -c '^mark$' || true)" 0 "hoist run ls /etc (deleted file)"
# USER 1000 needs a mapping for uid 1000: documented to fail with one id
rc=0
uh run e2e/core:1 >"$T/run1000.out" 2>"$T/run1000.err" || rc=$?
if [ $rc -eq 0 ]; then
	assert_eq "$(cat "$T/run1000.out")" "rootless hello from uid 1000: built-rootless" "hoist run as USER 1000 with one id"
else
	grep -q 'AddressSanitizer\|runtime error:' "$T/run1000.err" && fail "sanitizer report: $(cat "$T/run1000.err")"
	grep -Eqi 'user|uid|1000|map|setgroups|setuid' "$T/run1000.err" ||
		fail "hoist run as USER 1000 with one id failed without saying why ($rc): $(cat "$T/run1000.err")"
	printf '   USER 1000 without subordinate ids fails as documented: %s\n' "$(grep -i error "$T/run1000.err" | head -1)"
fi

say "   the cache, rootless"
D1b=$(ubuild "$T/core2.log" -t e2e/core:2 core)
assert_eq "$D1b" "$D1" "rootless rebuild digest"
assert_eq "$(ran "$T/core2.log")" 0 "RUNs of the rootless rebuild"

say "   a RUN that chowns to another id fails with one id, clearly"
rc=0
uh build -t e2e/chown-single:1 chown >"$T/chown-single.out" 2>"$T/chown-single.err" || rc=$?
[ $rc -ne 0 ] || fail "chown 1000 worked with a single-id mapping?"
grep -q 'AddressSanitizer\|runtime error:' "$T/chown-single.err" && fail "sanitizer report: $(cat "$T/chown-single.err")"
grep -q 'Dockerfile:5: RUN' "$T/chown-single.err" || fail "the chown failure does not name Dockerfile:5: $(tail -3 "$T/chown-single.err")"
uh digest local:e2e/chown-single:1 >/dev/null 2>&1 && fail "the failed build left an image"

# the same image built by root, for the comparison at the end
D1root=
if [ "$(id -u)" = 0 ]; then
	D1root=$(hoist build -q -t e2e/core-root:1 "$U/core" 2>"$T/core-root.log") ||
		fail "root build of the same context: $(cat "$T/core-root.log")"
fi
# same_as_root: the rootless image must be the one root builds
same_as_root() {
	[ -n "$D1root" ] || return 0
	say "the image $NAME built is the one root builds from the same context"
	if [ "$D1" != "$D1root" ]; then
		echo "   layers built by root:" >&2
		hoist manifest e2e/core-root:1 | jq -r '.layers[].digest' | sed 's/^/   | /' >&2
		echo "   layers built by $NAME:" >&2
		uh manifest e2e/core:1 | jq -r '.layers[].digest' | sed 's/^/   | /' >&2
		fail "digest built by $NAME ($D1) != built by root ($D1root)"
	fi
}

if [ "$(id -u)" != 0 ]; then
	echo "not root: cannot add subordinate ids; skipping part 2"
	same_as_root
	echo "all good"
	exit 0
fi
if ! have newuidmap || ! have newgidmap; then
	echo "newuidmap/newgidmap not installed (uidmap): skipping part 2"
	same_as_root
	echo "all good"
	exit 0
fi

say "2. subordinate ids: a range for $NAME in /etc/subuid and /etc/subgid"
# after every range already given, so nothing overlaps
start=$(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: 'NF >= 3 { e = $2 + $3; if (e > m) m = e } END { m = (m < 200000) ? 200000 : m; print m + 65536 }')
echo "$NAME:$start:65536" >>/etc/subuid
echo "$NAME:$start:65536" >>/etc/subgid
chmod 0644 /etc/subuid /etc/subgid
echo "   $NAME:$start:65536"
D2=$(ubuild "$T/chown.log" -t e2e/chown:1 chown)
grep -q 'only root inside is mapped' "$T/chown.log" && fail "still the single-id mapping: $(grep mapped "$T/chown.log")"
uh export e2e/chown:1 - >"$T/chown.tar"
tar -tvf "$T/chown.tar" --numeric-owner >"$T/chown.lst"
grep -E '^-rw-r--r-- 1000/1000 .* data/owned$' "$T/chown.lst" >/dev/null ||
	fail "RUN chown 1000:1000: the layer records $(grep 'data/owned' "$T/chown.lst")"
grep -E '^drwxr-xr-x 1000/1000 .* home/app/$' "$T/chown.lst" >/dev/null ||
	fail "RUN chown -R on a directory: $(grep 'home/app/$' "$T/chown.lst")"
grep -E '^-rw-r--r-- 1000/0 .* etc/mark$' "$T/chown.lst" >/dev/null ||
	fail "RUN chown 1000:0 of a base file: $(grep 'etc/mark' "$T/chown.lst")"
grep -E '^-rw-r--r-- 1000/1000 .* home/app/uid$' "$T/chown.lst" >/dev/null ||
	fail "a file written by USER app: $(grep 'home/app/uid' "$T/chown.lst")"
grep -E '^-rw-r--r-- 1000/1000 .* data/by-app$' "$T/chown.lst" >/dev/null ||
	fail "a file USER app made in its dir: $(grep 'data/by-app' "$T/chown.lst")"
host=$(awk -v s="$start" -v u="$RU" '{ split($2, o, "/"); if (o[1] + 0 >= s || o[2] + 0 >= s || o[1] == u) print }' "$T/chown.lst")
[ -z "$host" ] || fail "the layer records host ids (the user's or subordinate ones): $host"
assert_eq "$(tar -xOf "$T/chown.tar" chowned)" "1000:1000" "stat inside the RUN after chown"
assert_eq "$(tar -xOf "$T/chown.tar" home/app/uid)" 1000 "id -u as USER app"
assert_eq "$(tar -xOf "$T/chown.tar" home/app/here)" /home/app/work "WORKDIR under a directory of uid 1000"
# the layer of the chown RUN itself says 1000 (not only the flattened view)
layer=$(uh manifest e2e/chown:1 | jq -r '.layers[2].digest')
uh cp e2e/chown:1 oci:"$U/chown-oci":x >/dev/null 2>&1 || fail "cp to an oci: layout"
tar -tzvf "$U/chown-oci/blobs/sha256/${layer#sha256:}" --numeric-owner | grep -E '1000/1000 .* data/owned$' >/dev/null ||
	fail "the RUN's own layer does not record 1000/1000 for data/owned"
out=$(uh run e2e/chown:1)
case "$out" in
"uid=1000(app) gid=1000(app)"*) ;;
*) fail "hoist run as USER app with subordinate ids: $out" ;;
esac
assert_eq "$(uh run e2e/core:1)" "rootless hello from uid 1000: built-rootless" "hoist run as USER 1000 with subordinate ids"

say "   RUN on a copy (moved out by a helper in a user namespace) and on an overlay: one image"
# ubuild_mode MODE LOG ARGS...: ubuild with HOIST_RUN_ROOTFS=MODE (and
# further VAR=VALUE words before LOG)
ubuild_env() {
	local envs=()
	while [[ $1 == *=* ]]; do envs+=("$1"); shift; done
	local log=$1; shift
	local out rc=0
	out=$(as_user env "${envs[@]}" "$T/bin/hoist" build --progress plain "$@" 2>"$log") || rc=$?
	if [ $rc -ne 0 ] || grep 'AddressSanitizer\|LeakSanitizer\|runtime error:' "$log" >/dev/null; then
		sed 's/^/   | /' "$log" >&2
		fail "hoist build $* (as $NAME, ${envs[*]}) exited $rc"
	fi
	printf '%s\n' "$out" | tail -1
}
runs() { find "$UH/hoist-store/tmp" -mindepth 1 -maxdepth 1 -name 'run-*' 2>/dev/null | sort; }
runs >"$T/runs.before"
Dc=$(ubuild_env HOIST_RUN_ROOTFS=copy "$T/chown-copy.log" --no-cache -t e2e/chown-copy:1 chown)
# the copies (files of subordinate ids) are gone from the user's tmp
runs >"$T/runs.after"
left=$(comm -13 "$T/runs.before" "$T/runs.after")
[ -z "$left" ] || fail "RUN directories left behind: $(for d in $left; do find "$d" | head -5; done)"
Do=$(ubuild_env HOIST_RUN_ROOTFS=overlay "$T/chown-ovl.log" --no-cache -t e2e/chown-ovl:1 chown)
assert_eq "$(grep -c '^      on a copy of the stage' "$T/chown-copy.log" || true)" 3 "RUN steps on a copy, subordinate ids"
assert_eq "$(grep -c '^      on a copy of the stage' "$T/chown-ovl.log" || true)" 0 "RUN steps on a copy with HOIST_RUN_ROOTFS=overlay"
assert_eq "$Dc" "$Do" "image digest, RUN on a copy vs on an overlay, subordinate ids"
assert_eq "$Dc" "$D2" "image digest, RUN on a copy vs the default build"
Df=$(ubuild_env HOIST_RUN_ROOTFS=overlay HOIST_SANDBOX_TEST_OVERLAY_ERRNO=1 "$T/chown-noovl.log" --no-cache -t e2e/chown-noovl:1 chown)
grep 'overlayfs cannot be mounted here' "$T/chown-noovl.log" >/dev/null ||
	fail "no word of the overlay that could not be mounted: $(tail -5 "$T/chown-noovl.log")"
assert_eq "$Df" "$Do" "image digest when no overlay can be mounted, subordinate ids"

say "   an image with files of uid 1000 (built by root) as a base, unpacked in a fresh store"
hoist build -q -t e2e/chown-root:1 "$U/chown" >/dev/null 2>"$T/chown-root.log" || fail "root build of chown: $(cat "$T/chown-root.log")"
hoist export e2e/chown-root:1 - | tar -tv --numeric-owner | grep -E '^drwxr-xr-x 1000/1000 .* home/app/$' >/dev/null ||
	fail "root's build does not record 1000 for /home/app"
hoist -q cp e2e/chown-root:1 oci:"$T/chown-root":x >/dev/null
chmod -R a+rX "$T/chown-root"
# a fresh store: the base's layers are unpacked from their blobs, not
# taken from this machine's snapshots
as_user env HOIST_HOME="$UH/fresh-store" "$T/bin/hoist" build \
	--build-arg BASE=oci:"$T/chown-root":x -t e2e/child:1 child >/dev/null 2>"$T/child-fresh.log" ||
	fail "child build (FROM an image with files of uid 1000, USER app writes to its /data) in a fresh store: $(cat "$T/child-fresh.log")"
as_user env HOIST_HOME="$UH/fresh-store" "$T/bin/hoist" export e2e/child:1 - | tar -tv --numeric-owner >"$T/child.lst"
grep -E '^-rw-r--r-- 1000/1000 .* data/child-wrote$' "$T/child.lst" >/dev/null ||
	fail "USER app writing to its /data in the child: $(grep child-wrote "$T/child.lst")"
assert_eq "$(as_user env HOIST_HOME="$UH/fresh-store" "$T/bin/hoist" export e2e/child:1 - | tar -xOf - home/app/seen)" \
	"1000:1000" "the owner of the base's file as the child's RUN sees it"

same_as_root
echo "all good"
