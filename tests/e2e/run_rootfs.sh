#!/usr/bin/env bash
# RUN on a plain copy of the stage and RUN on an overlay must give the same
# layers: steps that modify, delete, replace, rename, chmod, link and add
# files and directories of the base are built with HOIST_RUN_ROOTFS=overlay,
# =copy and the default (a copy, the base being small), and the images
# compared digest for digest and entry by entry (ls-layer); what the copy
# wrote is also checked against what such a step must leave.  Then: a
# stage too large for a copy runs on an overlay and is remembered as such;
# an overlay that cannot be mounted (injected) makes the build go on on
# copies; the images run.
. "$(dirname "$0")/../lib/common.sh"

# hb LOG ARGS...: hoist build, progress into LOG, prints the digest
hb() {
	local log=$1; shift
	local out rc=0
	out=$(hoist build --progress plain "$@" 2>"$log") || rc=$?
	if [ $rc -ne 0 ]; then
		sed 's/^/   | /' "$log" >&2
		fail "hoist build $* exited $rc"
	fi
	if grep 'ERROR: AddressSanitizer\|runtime error:' "$log" >/dev/null; then
		cat "$log" >&2
		fail "sanitizer report during hoist build $*"
	fi
	printf '%s\n' "$out" | tail -1
}
# layers IMAGE: ls-layer of every layer above the base
layers() { hoist ls-layer "$1" | awk '/^layer / { n++ } n > 1'; }

say "a base with files, links, directories to change"
make_layout "$T/base" busybox e2e-base >/dev/null
hoist -q cp oci:"$T/base":busybox local:e2e/busybox:1 >/dev/null
mkdir -p "$T/ctx"
cat >"$T/ctx/Dockerfile" <<'DF'
FROM e2e/busybox:1
RUN busybox mkdir -p /data/dir /old-dir/sub /replace-dir /dir-to-file/z /keep-dir /usr/share/doc && \
    echo a > /data/dir/a && echo b > /data/dir/b && echo x > /old-dir/sub/x && \
    echo y > /replace-dir/y && echo f > /file-to-dir && echo c > /chmod-me && \
    echo h > /hl1 && echo conf > /etc/conf && echo k > /keep-dir/k && \
    echo d > /usr/share/doc/d && busybox chmod 0755 /keep-dir && echo t > /touch-me
RUN echo more >> /etc/conf && \
    busybox rm /data/dir/b && \
    busybox rm -r /old-dir && \
    busybox rm -r /replace-dir && busybox mkdir /replace-dir && echo n > /replace-dir/n && \
    busybox rm /file-to-dir && busybox mkdir /file-to-dir && echo in > /file-to-dir/in && \
    busybox rm -r /dir-to-file && echo now-a-file > /dir-to-file && \
    busybox chmod 0600 /chmod-me && busybox chmod 0700 /keep-dir && \
    busybox mv /data/dir/a /data/dir/a2 && \
    busybox mkdir -p /new/deep/er && echo new > /new/deep/er/file && busybox ln -s ../etc/conf /new/link && \
    busybox ln /hl1 /new/hl3 && \
    busybox touch -d 2001-01-01 /touch-me && \
    busybox mkdir /tmp/scratch && busybox rm -r /tmp/scratch
RUN true
WORKDIR /made/by/workdir
RUN busybox pwd > here && busybox rm -r /usr/share/doc
DF

declare -A D
for mode in overlay copy default; do
	if [ $mode = default ]; then
		D[$mode]=$(hb "$T/$mode.log" --no-cache -t e2e/rr-$mode:1 "$T/ctx")
	else
		D[$mode]=$(HOIST_RUN_ROOTFS=$mode hb "$T/$mode.log" --no-cache -t e2e/rr-$mode:1 "$T/ctx")
	fi
done
n=$(grep -c '^      on a copy of the stage' "$T/copy.log" || true)
assert_eq "$n" 4 "steps run on a copy with HOIST_RUN_ROOTFS=copy"
n=$(grep -c '^      on a copy of the stage' "$T/default.log" || true)
assert_eq "$n" 4 "steps run on a copy by default (a small base)"
n=$(grep -c '^      on a copy of the stage' "$T/overlay.log" || true)
assert_eq "$n" 0 "steps run on a copy with HOIST_RUN_ROOTFS=overlay"

say "the copy and the overlay make the same layers"
layers e2e/rr-overlay:1 >"$T/overlay.ls"
layers e2e/rr-copy:1 >"$T/copy.ls"
if ! diff -u "$T/overlay.ls" "$T/copy.ls" >&2; then
	fail "RUN on a copy made other layers than RUN on an overlay (diff above)"
fi
assert_eq "${D[copy]}" "${D[overlay]}" "image digest, copy vs overlay"
assert_eq "${D[default]}" "${D[overlay]}" "image digest, default vs overlay"

say "what the changing step left"
# the second RUN's layer, as "KIND PATH" lines
hoist ls-layer e2e/rr-copy:1 | awk '/^layer / { n++; next } n == 3 { print $1, $2 }' >"$T/step2"
for want in "M /etc/conf" "D /data/dir/b" "D /old-dir" "D /replace-dir/*" \
	"A /replace-dir/n" "D /file-to-dir/*" "A /file-to-dir/in" "A /dir-to-file" "M /chmod-me" "M /keep-dir" \
	"D /data/dir/a" "A /data/dir/a2" "A /new/deep/er/file" "A /new/link" "A /new/hl3" \
	"M /hl1" "M /touch-me" "M /tmp"; do
	kind=${want%% *} path=${want#* }
	case $kind in
	D) grep -Fx "D $path" "$T/step2" >/dev/null || { cat "$T/step2" >&2; fail "the step's layer does not delete $path"; } ;;
	*) grep -E "^[AM] $path/?$" "$T/step2" >/dev/null || { cat "$T/step2" >&2; fail "the step's layer lacks $path"; } ;;
	esac
done
for absent in /usr /usr/share/doc/d /data/dir/a2/x /keep-dir/k /old-dir/sub /bin; do
	if grep -E "^[AM] $absent/?$" "$T/step2" >/dev/null; then
		cat "$T/step2" >&2
		fail "the step's layer holds $absent, which the step did not change"
	fi
done
out=$(hoist run --rm --entrypoint "" e2e/rr-copy:1 busybox sh -c \
	'cat /etc/conf /dir-to-file /made/by/workdir/here; busybox stat -c %a /chmod-me /keep-dir; \
	 busybox ls /replace-dir; busybox ls /data/dir; test ! -e /usr/share/doc && echo doc-gone; \
	 busybox stat -c %i /hl1 /new/hl3 | busybox uniq | busybox wc -l')
assert_eq "$out" "conf
more
now-a-file
/made/by/workdir
600
700
n
a2
doc-gone
1" "the image built on copies, as its command sees it"

say "a stage too large for a copy runs on an overlay, and is remembered"
mkdir -p "$T/big"
cat >"$T/big/Dockerfile" <<'DF'
FROM e2e/busybox:1
RUN busybox mkdir /many && cd /many && busybox seq 1 600 | busybox xargs busybox touch
RUN echo one > /one
RUN echo two > /two
DF
hb "$T/big1.log" -t e2e/rr-big:1 "$T/big" >/dev/null
n=$(grep -c '^      on a copy of the stage' "$T/big1.log" || true)
assert_eq "$n" 1 "steps on a copy in a stage that grows past the bound"
ls "$HOIST_HOME"/rootfs/*.large >/dev/null 2>&1 || fail "no marker of the large stage in $HOIST_HOME/rootfs"
assert_eq "$(hoist run --rm --entrypoint "" e2e/rr-big:1 busybox sh -c 'ls /many | busybox wc -l; cat /one /two')" \
	"600
one
two" "the large stage's image"

say "HOIST_RUN_ROOTFS other than overlay or copy is an error"
HOIST_RUN_ROOTFS=ovelray expect_fail "HOIST_RUN_ROOTFS='ovelray': expected 'overlay' or 'copy'" \
	hoist build --no-cache -t e2e/rr-bad:1 "$T/ctx"
hoist digest local:e2e/rr-bad:1 >/dev/null 2>&1 && fail "a build with a bad HOIST_RUN_ROOTFS left an image"

say "the byte bound counts all the stage's layers together"
mkdir -p "$T/bytes"
cat >"$T/bytes/Dockerfile" <<'DF'
FROM e2e/busybox:1
RUN busybox head -c 9437184 /dev/urandom > /a
RUN busybox head -c 9437184 /dev/urandom > /b
RUN busybox ls -l /a /b > /sizes
DF
hb "$T/bytes.log" -t e2e/rr-bytes:1 "$T/bytes" >/dev/null
n=$(grep -c '^      on a copy of the stage' "$T/bytes.log" || true)
assert_eq "$n" 2 "steps on a copy while the stage's layers hold less than 16 MiB"

say "an overlay that cannot be mounted: the build goes on on copies"
d=$(HOIST_SANDBOX_TEST_OVERLAY_ERRNO=1 HOIST_RUN_ROOTFS=overlay hb "$T/noovl.log" --no-cache -t e2e/rr-noovl:1 "$T/ctx")
grep '^      overlayfs cannot be mounted here (.*Operation not permitted)' "$T/noovl.log" >/dev/null ||
	{ cat "$T/noovl.log" >&2; fail "no word of the overlay that could not be mounted"; }
assert_eq "$d" "${D[overlay]}" "image digest when no overlay can be mounted"

say "a store on a file system with whole-second times"
if [ "$(id -u)" = 0 ] && have mkfs.ext4 && truncate -s 64M "$T/secs.img" &&
	mkfs.ext4 -q -F -I 128 "$T/secs.img" >/dev/null 2>&1 && mkdir -p "$T/secs" &&
	mount -o loop "$T/secs.img" "$T/secs" 2>/dev/null; then
	trap 'rc=$?; umount "$T/secs" 2>/dev/null; (exit $rc); cleanup' EXIT
	mkdir -p "$T/secs/home"
	HOIST_HOME="$T/secs/home" hoist -q cp oci:"$T/base":busybox local:e2e/busybox:1 >/dev/null
	d=$(HOIST_HOME="$T/secs/home" hb "$T/secs-auto.log" -t e2e/rr-secs:1 "$T/ctx")
	n=$(grep -c '^      on a copy of the stage' "$T/secs-auto.log" || true)
	assert_eq "$n" 0 "steps on a copy by default where times are whole seconds"
	assert_eq "$d" "${D[overlay]}" "image digest, whole-second store, overlay"
	d=$(HOIST_HOME="$T/secs/home" HOIST_RUN_ROOTFS=copy hb "$T/secs-copy.log" --no-cache -t e2e/rr-secs:2 "$T/ctx")
	n=$(grep -c '^      on a copy of the stage' "$T/secs-copy.log" || true)
	assert_eq "$n" 4 "steps on a copy with HOIST_RUN_ROOTFS=copy, whole-second store"
	assert_eq "$d" "${D[overlay]}" "image digest, whole-second store, copy"
	umount "$T/secs"
	trap cleanup EXIT
else
	echo "   (not root, or no mkfs.ext4 / loop device: skipped)"
fi

say "podman runs the image built on copies"
hoist -q cp e2e/rr-copy:1 oci:"$T/out":rr >/dev/null
rc=0; out=$(podman_run --entrypoint "" oci:"$T/out":rr cat /etc/conf /dir-to-file 2>"$T/podman.err") || rc=$?
if [ $rc -ne 77 ]; then
	[ $rc -eq 0 ] || fail "podman run failed ($rc): $out $(cat "$T/podman.err")"
	assert_eq "$out" "conf
more
now-a-file" "podman run of the image built on copies"
fi
echo "all good"
