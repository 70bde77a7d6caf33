#!/usr/bin/env bash
# bench/layer.sh [--quick] HOIST
#
# Layer creation from a directory, two data sets generated once into the
# work dir:
#   small  100,000 files of 0-4 KiB in 1,000 directories (half text, half
#          random bytes)                          (--quick: 10,000 in 100)
#   mixed  ~1 GB: half random files of 64 KiB-64 MiB, half real files
#          (binaries, libraries, text) copied from /usr/lib and /usr/share
#                                                  (--quick: ~50 MB)
# and four ways to turn each into a gzip layer, alternating run by run:
#   hoist    hoist append scratch --layer DIR -t oci:OUT:x   (tar + gzip
#            level 7, hoist's default + both digests + writing the blob)
#   gzip -6  tar -c DIR | gzip -6 >/dev/null
#   pigz -7  tar -c DIR | pigz -p NCPU -7 >/dev/null  (hoist's level, same cores)
#   buildah  buildah copy DIR + buildah commit --disable-compression=false
#            oci:OUT:x (vfs driver, private --root/--runroot; the time is
#            that of copy + commit; 'from scratch' is not counted)
# The data sits in the page cache (it was just written), so this measures
# CPU work, not the disk.
#
# Targets: small: buildah/hoist >= 3; mixed: gzip-6/hoist >= 2 and
# pigz/hoist >= 1.  BENCH_RUNS (default 5) sets the runs per tool.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init layer "$@"

NCPU=$(nproc)
HAVE_BUILDAH=1 HAVE_PIGZ=1
have buildah || { HAVE_BUILDAH=0; say "buildah is not installed: skipping buildah"; }
have pigz || { HAVE_PIGZ=0; say "pigz is not installed: skipping pigz"; }
if [ $QUICK = 1 ]; then
	NFILES=10000 NDIRS=100 MIXED_MB=50
else
	NFILES=100000 NDIRS=1000 MIXED_MB=1000
fi

# ---------------------------------------------------------------- data
say "generating the data sets in $W"
text_file $((4 * 1048576)) "$W/text.pool"
python3 - "$W/small" "$NFILES" "$NDIRS" "$W/text.pool" <<'PY'
import os, random, sys
root, nfiles, ndirs, pool = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), open(sys.argv[4], "rb").read()
rnd = random.Random(1)
per = nfiles // ndirs
for d in range(ndirs):
    dd = os.path.join(root, "d%02d" % (d // 100), "s%04d" % d)
    os.makedirs(dd)
    for f in range(per):
        n = rnd.randint(0, 4096)
        if f % 2:
            off = rnd.randint(0, len(pool) - n)
            data = pool[off:off + n]
        else:
            data = os.urandom(n)
        with open(os.path.join(dd, "f%03d.%s" % (f, "txt" if f % 2 else "bin")), "wb") as fh:
            fh.write(data)
PY
python3 - "$W/mixed" "$MIXED_MB" <<'PY'
import math, os, random, shutil, stat, sys
root, total = sys.argv[1], int(sys.argv[2]) * 1000 * 1000
rnd = random.Random(2)
# half random data, files of 64 KiB .. 64 MiB (log-uniform)
os.makedirs(os.path.join(root, "random"))
left, i = total // 2, 0
while left > 0:
    n = min(left, int(math.exp(rnd.uniform(math.log(64 << 10), math.log(64 << 20)))))
    with open(os.path.join(root, "random", "r%04d.bin" % i), "wb") as fh:
        while n > 0:
            k = min(n, 8 << 20)
            fh.write(os.urandom(k))
            n -= k
            left -= k
    i += 1
# half real files: a quarter from /usr/lib, a quarter from /usr/share
for src in ("/usr/lib", "/usr/share"):
    want = total // 4
    for dp, dns, fns in os.walk(src):
        dns.sort()
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size == 0 or st.st_size > want:
                continue
            dst = os.path.join(root, "usr", os.path.relpath(p, "/usr"))
            try:
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(p, dst)
            except OSError:
                continue
            os.chmod(dst, st.st_mode & 0o755)
            want -= st.st_size
        if want <= 0:
            break
PY
sync
SMALL_BYTES=$(du -sb --apparent-size "$W/small" | cut -f1)
MIXED_BYTES=$(du -sb --apparent-size "$W/mixed" | cut -f1)
SMALL_N=$(find "$W/small" -type f | wc -l)
MIXED_N=$(find "$W/mixed" -type f | wc -l)
say "small: $SMALL_N files, $(mib "$SMALL_BYTES") MiB; mixed: $MIXED_N files, $(mib "$MIXED_BYTES") MiB"

# --------------------------------------------------------------- tools
hoist_layer() { # SET
	rm -rf "$W/out-hoist"
	timed "hoist-$1" "$HOIST" -q append scratch --layer "$W/$1" -t "oci:$W/out-hoist:x"
	LAYER_SIZE=$(python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json"))["manifests"][0]["digest"][7:]; m=json.load(open(d+"/blobs/sha256/"+i)); print(m["layers"][-1]["size"])' "$W/out-hoist")
	echo "$LAYER_SIZE" >"$W/hoist-$1.size"
	rm -rf "$W/out-hoist"
}
gzip_layer() { # SET
	timed "gzip-$1" bash -c 'set -o pipefail; tar -C "$1" -cf - . | gzip -6 | wc -c >"$2"' _ "$W/$1" "$W/gzip-$1.size"
}
pigz_layer() { # SET
	timed "pigz-$1" bash -c 'set -o pipefail; tar -C "$1" -cf - . | pigz -p "$3" -7 | wc -c >"$2"' _ "$W/$1" "$W/pigz-$1.size" "$NCPU"
}
# buildah: from (not timed), copy, commit; the times and peak RSS come out
# of the script itself
cat >"$W/buildah.sh" <<'SH'
#!/bin/bash
set -euo pipefail
dir=$1 st=$2 out=$3 res=$4
B=(buildah --root "$st/root" --runroot "$st/runroot" --storage-driver vfs)
c=$("${B[@]}" from -q scratch)
t0=$(date +%s%N)
/usr/bin/time -o "$st/t1" -f '%M %U %S' "${B[@]}" copy -q "$c" "$dir" /
t1=$(date +%s%N)
/usr/bin/time -o "$st/t2" -f '%M %U %S' "${B[@]}" commit -q --disable-compression=false "$c" "oci:$out:x" >/dev/null
t2=$(date +%s%N)
"${B[@]}" rm "$c" >/dev/null
echo "$t0 $t1 $t2 $(tail -1 "$st/t1") $(tail -1 "$st/t2")" >"$res"
SH
buildah_layer() { # SET
	local st="$W/buildah-store" res="$W/buildah.res"
	rm -rf "$st" "$W/out-buildah"
	mkdir -p "$st"
	private bash "$W/buildah.sh" "$W/$1" "$st" "$W/out-buildah" "$res" >>"$W/cmd.log" 2>&1 ||
		die "buildah failed on $1 (see above)"
	local t0 t1 t2 r1 u1 s1 r2 u2 s2
	read -r t0 t1 t2 r1 u1 s1 r2 u2 s2 <"$res"
	record "buildah-copy-$1" "$(secs "$t0" "$t1")" "$r1" "$(calc "$u1 + $s1")"
	record "buildah-commit-$1" "$(secs "$t1" "$t2")" "$r2" "$(calc "$u2 + $s2")"
	LAST_SEC=$(secs "$t0" "$t2")
	LAST_RSS=$((r1 > r2 ? r1 : r2))
	record "buildah-$1" "$LAST_SEC" "$LAST_RSS" "$(calc "$u1 + $s1 + $u2 + $s2")"
	python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json"))["manifests"][0]["digest"][7:]; m=json.load(open(d+"/blobs/sha256/"+i)); print(m["layers"][-1]["size"], m["layers"][-1]["mediaType"])' \
		"$W/out-buildah" >"$W/buildah-$1.size"
	rm -rf "$st" "$W/out-buildah"
}

# ---------------------------------------------------------------- runs
for set in small mixed; do
	say "$set: $RUNS runs each, alternating hoist, gzip -6, pigz -7$([ $HAVE_BUILDAH = 1 ] && echo ', buildah')"
	for r in $(seq 1 "$RUNS"); do
		hoist_layer "$set"
		line="run $r/$RUNS: hoist $LAST_SEC s ($(mib $((LAST_RSS * 1024))) MiB)"
		gzip_layer "$set"
		line+=", gzip -6 $LAST_SEC s"
		if [ $HAVE_PIGZ = 1 ]; then
			pigz_layer "$set"
			line+=", pigz -7 $LAST_SEC s"
		fi
		if [ $HAVE_BUILDAH = 1 ]; then
			buildah_layer "$set"
			line+=", buildah $LAST_SEC s ($(tail -1 "$W/series/buildah-copy-$set") + $(tail -1 "$W/series/buildah-commit-$set"))"
		fi
		echo "$line  [load $(loadavg)]"
	done
done

# -------------------------------------------------------------- report
say "load average at end: $(loadavg)"
osize() { awk '{ printf "%.1f", $1 / 1048576 }' "$W/$1.size"; }
for set in small mixed; do
	if [ $set = small ]; then
		bytes=$SMALL_BYTES
		echo; echo "Layer from $SMALL_N small files ($(mib "$SMALL_BYTES") MiB); MB/s of input"
	else
		bytes=$MIXED_BYTES
		echo; echo "Layer from $(mib "$MIXED_BYTES") MiB of mixed data ($MIXED_N files); MB/s of input"
	fi
	echo "(MB/s: input bytes per second; CPU s: user+system seconds, all processes of the pipeline)"
	row_header "tool (output MiB)"
	row "hoist append ($(osize hoist-$set))" "hoist-$set" "$bytes"
	row "tar | gzip -6 ($(osize gzip-$set))" "gzip-$set" "$bytes"
	[ $HAVE_PIGZ = 1 ] && row "tar | pigz -p $NCPU -7 ($(osize pigz-$set))" "pigz-$set" "$bytes"
	if [ $HAVE_BUILDAH = 1 ]; then
		row "buildah copy+commit ($(osize buildah-$set))" "buildah-$set" "$bytes"
		row "  of which buildah copy" "buildah-copy-$set" "$bytes"
		row "  of which buildah commit" "buildah-commit-$set" "$bytes"
	fi
done
echo

HS=$(median hoist-small) HM=$(median hoist-mixed)
sum="SUMMARY layer:"
if [ $HAVE_BUILDAH = 1 ]; then
	R=$(calc "$(median buildah-small) / $HS")
	sum+=" $SMALL_N files: buildah/hoist $R x (hoist $HS s, buildah $(median buildah-small) s; target >= 3x: $(met "$R" 3));"
else
	sum+=" $SMALL_N files: buildah not installed, not measured (hoist $HS s);"
fi
R=$(calc "$(median gzip-mixed) / $HM")
sum+=" $(mib "$MIXED_BYTES") MiB mixed: gzip-6/hoist $R x (hoist $HM s, gzip $(median gzip-mixed) s; target >= 2x: $(met "$R" 2))"
if [ $HAVE_PIGZ = 1 ]; then
	R=$(calc "$(median pigz-mixed) / $HM")
	sum+=", pigz-7/hoist $R x (pigz $(median pigz-mixed) s; target >= 1x: $(met "$R" 1))"
fi
if [ $HAVE_BUILDAH = 1 ]; then
	sum+=", buildah/hoist $(calc "$(median buildah-mixed) / $HM") x"
fi
echo "$sum"
