#!/usr/bin/env bash
# Dockerfile-less images: append, mutate, rebase, pack, export, ls-layer.
# Reproducible digests across checkouts; hostile tars refused; the images
# run under podman and are accepted by skopeo and umoci.
. "$(dirname "$0")/../lib/common.sh"

make_layout "$T/base" v1 base-one >/dev/null
make_layout "$T/base" v2 base-two >/dev/null

# an application directory, checked out twice with different umask/mtimes
mkapp() {
	local d=$1
	mkdir -p "$d/bin" "$d/share/doc"
	printf '#!/bin/sh\necho "hello from the app: $(cat /app/share/doc/msg)"\n' >"$d/bin/run"
	printf 'layers work\n' >"$d/share/doc/msg"
	ln -sf run "$d/bin/start"
	chmod 0755 "$d/bin/run" "$d/bin" "$d/share" "$d/share/doc" "$d"
	chmod 0644 "$d/share/doc/msg"
}
(umask 022; mkapp "$T/co1/app")
(umask 077; mkapp "$T/somewhere/else/co2/app"; touch -d '2001-02-03' "$T/somewhere/else/co2/app/bin/run")
touch -d '2020-01-01' "$T/co1/app/share/doc/msg"

say "append: a directory becomes a layer on a base"
d1=$(hoist -q append oci:$T/base:v1 --layer "$T/co1/app:/app" --cmd /app/bin/run -t oci:$T/out:app)
d2=$(hoist -q append oci:$T/base:v1 --layer "$T/somewhere/else/co2/app:/app" --cmd /app/bin/run -t oci:$T/out:app2)
assert_eq "$d2" "$d1" "append digest from two checkouts"
assert_eq "$(hoist digest oci:$T/out:app)" "$d1" "digest written"
hoist inspect --json oci:$T/out:app >"$T/app.json"
assert_eq "$(jq -r '.layers | length' "$T/app.json")" 2 "layer count"
assert_eq "$(jq -r '.cmd[0]' "$T/app.json")" /app/bin/run "cmd"
jq -e '.history[-1].createdBy | startswith("hoist append")' "$T/app.json" >/dev/null
d3=$(SOURCE_DATE_EPOCH=1700000000 hoist -q append oci:$T/base:v1 --layer "$T/co1/app:/app" -t oci:$T/out:epoch)
[ "$d3" != "$d1" ] || fail "SOURCE_DATE_EPOCH did not change the digest"
hoist config oci:$T/out:epoch | jq -e '.history[-1].created == "2023-11-14T22:13:20Z"' >/dev/null
for c in zstd none; do
	hoist -q append oci:$T/base:v1 --layer "$T/co1/app:/app" --compression $c -t oci:$T/out:$c >/dev/null
done
hoist manifest oci:$T/out:zstd | jq -e '.layers[1].mediaType | endswith("+zstd")' >/dev/null
hoist manifest oci:$T/out:none | jq -e '.layers[1].mediaType | endswith("layer.v1.tar")' >/dev/null

say "the appended image exports and runs"
hoist export oci:$T/out:app "$T/rootfs"
assert_eq "$(cat "$T/rootfs/etc/mark")" base-one "base content in export"
[ -L "$T/rootfs/app/bin/start" ] || fail "symlink lost"
hoist export oci:$T/out:app - >"$T/flat.tar"
tar -tf "$T/flat.tar" | grep -x 'app/share/doc/msg' >/dev/null || fail "export - lacks the file"
hoist ls-layer oci:$T/out:app | grep "A /app/bin/run" >/dev/null || fail "ls-layer"
rc=0; out=$(podman_run oci:$T/out:app) || rc=$?
if [ $rc -ne 77 ]; then
	[ $rc -eq 0 ] || fail "podman run failed ($rc): $out"
	assert_eq "$out" "hello from the app: layers work" "podman run output"
fi
if have skopeo; then skopeo inspect oci:$T/out:app >/dev/null; fi
if have umoci; then
	umoci unpack --rootless --image "$T/out:app" "$T/bundle" >/dev/null
	assert_eq "$(cat "$T/bundle/rootfs/app/share/doc/msg")" "layers work" "umoci unpack"
fi

say "a tarball as a layer; whiteouts delete files of lower layers"
mkdir -p "$T/tarsrc/etc"
printf 'from a tarball\n' >"$T/tarsrc/etc/tarfile"
: >"$T/tarsrc/etc/.wh.mark"
tar -C "$T/tarsrc" -cf "$T/layer.tar" etc
hoist -q append oci:$T/base:v1 --layer "$T/layer.tar" -t oci:$T/out:tar >/dev/null
hoist export oci:$T/out:tar "$T/rootfs-tar"
assert_eq "$(cat "$T/rootfs-tar/etc/tarfile")" "from a tarball" "tarball layer content"
[ ! -e "$T/rootfs-tar/etc/mark" ] || fail "whiteout did not delete /etc/mark"
hoist export oci:$T/out:tar - >"$T/flat2.tar"
tar -tf "$T/flat2.tar" | grep 'etc/mark' && fail "flattened tar still has etc/mark"
hoist ls-layer oci:$T/out:tar | grep "D /etc/mark" >/dev/null || fail "ls-layer lacks the deletion"

say "mutate changes only the config"
hoist -q mutate oci:$T/out:app -t oci:$T/out:mut --env GREETING=hi --user 1000:1000 \
	--workdir /app --label org.example=yes --expose 8080 --entrypoint '["/bin/sh","-c"]' \
	--annotation org.opencontainers.image.source=https://example.com/app >/dev/null
hoist inspect --json oci:$T/out:mut >"$T/mut.json"
jq -e '.user == "1000:1000" and .workingDir == "/app" and .labels["org.example"] == "yes"' "$T/mut.json" >/dev/null
jq -e '(.env | index("GREETING=hi")) != null and .exposedPorts == ["8080/tcp"] and .entrypoint == ["/bin/sh","-c"]' "$T/mut.json" >/dev/null
assert_eq "$(jq -c '[.layers[].digest]' "$T/mut.json")" "$(jq -c '[.layers[].digest]' "$T/app.json")" "mutate kept the layers"
hoist manifest oci:$T/out:mut | jq -e '.annotations["org.opencontainers.image.source"] == "https://example.com/app"' >/dev/null
expect_fail "KEY=VALUE" hoist mutate oci:$T/out:app -t oci:$T/out:bad --env NOEQUALS

say "rebase swaps the base layers"
hoist -q rebase oci:$T/out:app --old-base oci:$T/base:v1 --new-base oci:$T/base:v2 -t oci:$T/out:rebased >/dev/null
hoist export oci:$T/out:rebased "$T/rootfs-rebased"
assert_eq "$(cat "$T/rootfs-rebased/etc/mark")" base-two "new base content"
assert_eq "$(cat "$T/rootfs-rebased/app/share/doc/msg")" "layers work" "app layer kept"
assert_eq "$(hoist manifest oci:$T/out:rebased | jq -r '.layers[1].digest')" \
	"$(hoist manifest oci:$T/out:app | jq -r '.layers[1].digest')" "app layer digest"
expect_fail "does not start with the layers" hoist rebase oci:$T/out:app --old-base oci:$T/base:v2 --new-base oci:$T/base:v1 -t oci:$T/out:x

say "pack: a dynamic and a static C program into minimal non-root images"
if have cc; then
	mkdir -p "$T/src1" "$T/src2/sub"
	cat >"$T/src1/hello.c" <<'C'
#include <math.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) { (void)argv; printf("hello uid=%d cos=%.1f\n", (int)getuid(), cos((double)(argc - 1))); return 0; }
C
	cp "$T/src1/hello.c" "$T/src2/sub/hello.c"
	cc -O2 -o "$T/src1/hello" "$T/src1/hello.c" -lm
	cc -O2 -static -o "$T/src1/hello-static" "$T/src1/hello.c" -lm
	(umask 077; cp -p "$T/src1/hello" "$T/src2/sub/hello"; touch -d 2010-01-01 "$T/src2/sub/hello")
	p1=$(hoist -q pack "$T/src1/hello" -t oci:$T/pack:dyn)
	p2=$(hoist -q pack "$T/src2/sub/hello" -t oci:$T/pack:dyn2)
	assert_eq "$p2" "$p1" "pack digest from two checkouts"
	ps=$(hoist -q pack "$T/src1/hello-static" -t oci:$T/pack:static)
	hoist inspect --json oci:$T/pack:dyn | jq -e '.user == "65532:65532"' >/dev/null
	hoist ls-layer oci:$T/pack:dyn | grep 'libm.so.6' >/dev/null || fail "libm not packed"
	hoist ls-layer oci:$T/pack:static | grep 'libc.so' >/dev/null && fail "static image has libc"
	hoist export oci:$T/pack:dyn "$T/packroot"
	if have chroot; then
		out=$(chroot --userspec=65532:65532 "$T/packroot" /usr/local/bin/hello)
		assert_eq "$out" "hello uid=65532 cos=1.0" "packed program under chroot"
	fi
	rc=0; out=$(podman_run oci:$T/pack:dyn) || rc=$?
	if [ $rc -ne 77 ]; then
		[ $rc -eq 0 ] || fail "podman run of the packed image failed ($rc): $out"
		assert_eq "$out" "hello uid=65532 cos=1.0" "podman run of pack (dynamic)"
		assert_eq "$(podman_run oci:$T/pack:static)" "hello uid=65532 cos=1.0" "podman run of pack (static)"
	fi
	if have skopeo; then skopeo inspect oci:$T/pack:dyn >/dev/null; fi
	if have umoci; then umoci unpack --rootless --image "$T/pack:static" "$T/bundle2" >/dev/null; fi
else
	echo "no C compiler: skipping pack"
fi

say "hostile tarballs are refused with a clear error"
python3 - "$T" <<'PY'
import io, sys, tarfile
t = sys.argv[1]
def mk(name, members):
    with tarfile.open(f"{t}/{name}.tar", "w", format=tarfile.PAX_FORMAT) as tf:
        for m, data in members:
            if data is not None:
                m.size = len(data)
                tf.addfile(m, io.BytesIO(data))
            else:
                tf.addfile(m)
def f(n): i = tarfile.TarInfo(n); return i
mk("dotdot", [(f("../../escape"), b"x")])
lnk = tarfile.TarInfo("link"); lnk.type = tarfile.SYMTYPE; lnk.linkname = "/"
mk("symlink", [(lnk, None), (f("link/tmp/hoist-evil"), b"x")])
hl = tarfile.TarInfo("passwd"); hl.type = tarfile.LNKTYPE; hl.linkname = "/etc/passwd"
mk("hardlink", [(hl, None)])
mk("wh-dotdot", [(f("a/.wh.."), b"")])
mk("abs", [(f("/tmp/hoist-evil-abs"), b"x")])
PY
# a 10 GB sparse file in a tar of a few kB
truncate -s 10G "$T/sparse-big"
tar --sparse -C "$T" -cf "$T/sparse.tar" sparse-big
rm -f "$T/sparse-big"
[ "$(stat -c %s "$T/sparse.tar")" -lt 100000 ] || fail "sparse tar is not small"
mkdir -p "$T/victim"
echo keep >"$T/victim/sentinel"
for h in dotdot symlink hardlink wh-dotdot abs sparse; do
	say "  hostile layer '$h'"
	if [ "$h" != sparse ] && [ "$h" != abs ]; then
		expect_fail "unsafe|'\\.\\.'|symlink|hard link|whiteout" \
			hoist append scratch --layer "$T/$h.tar" -t oci:$T/hostile:$h
	fi
	make_layout_from_tar "$T/hostile" "raw-$h" "$T/$h.tar" >/dev/null
	expect_fail "'\\.\\.'|leads out|outside|absolute|hard link|whiteout|exceeds the limit" \
		hoist export oci:$T/hostile:raw-$h "$T/victim/root-$h"
done
[ ! -e /tmp/hoist-evil ] && [ ! -e /tmp/hoist-evil-abs ] || fail "a hostile tar wrote outside"
[ ! -e "$T/escape" ] && [ ! -e "$T/victim/escape" ] || fail "'..' escaped the root"
assert_eq "$(cat "$T/victim/sentinel")" keep "sentinel next to the roots"
assert_eq "$(ls "$T/victim" | grep -v '^root-' | tr '\n' ' ')" "sentinel " "nothing else next to the roots"

say "append to a registry base in the same registry downloads no base layer"
start_registry a
A=$REG_a
hoist -q cp oci:$T/base:v1 $A/base:v1
base_layer=$(hoist manifest $A/base:v1 | jq -r '.layers[0].digest')
# (the base's config is read: it is what the new config starts from)
hoist append $A/base:v1 --layer "$T/co1/app:/app" --cmd /app/bin/run -t $A/app:v1 2>&1 | tee "$T/append.txt" >/dev/null
assert_eq "$(grep -c "\"GET /v2/base/blobs/$base_layer HTTP" "$REG_a_LOG" || true)" 0 "base layer downloads"
grep -q "1 mounted" "$T/append.txt" || fail "base layer was not mounted: $(cat "$T/append.txt")"
assert_eq "$(hoist digest $A/app:v1)" "$d1" "same digest in the registry as in the layout"
echo "all good"
