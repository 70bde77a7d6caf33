#!/usr/bin/env bash
# make-toolchain.sh HOIST [TAG]: a minimal C toolchain image, made offline
# from the host's own files (no registry, no network), for the builder
# stage of demo/hello.
#
# It stages a root filesystem with
#   - busybox-static: a shell and the coreutils;
#   - gcc, as and ld (the real files behind /usr/bin/gcc, as, ld), and
#     from /usr/lib/gcc/x86_64-linux-gnu/VER: cc1, collect2, lto-wrapper,
#     liblto_plugin.so, crt*.o, libgcc*, include/;
#   - the shared libraries those programs load (from ldd), with the
#     dynamic loader;
#   - the files of libc6-dev and linux-libc-dev (headers, crt1.o, libc.a,
#     libc.so, ...), from dpkg's lists,
# and makes it one layer with `hoist append scratch`.  The tag defaults to
# local:hoist-demo/toolchain:gcc-VERSION; when the store already has it,
# nothing is rebuilt.  The last line of output is the tag.
set -euo pipefail
HOIST=$(realpath "${1:?usage: make-toolchain.sh HOIST [TAG]}")
GCC=$(readlink -f "$(command -v gcc)") || { echo "make-toolchain: no gcc on this host" >&2; exit 1; }
VER=$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)
MAJOR=$(gcc -dumpversion)
TAG=${2:-local:hoist-demo/toolchain:gcc-$VER}
say() { printf '%s\n' "$*" >&2; }

if "$HOIST" -q digest "$TAG" >/dev/null 2>&1; then
	say "toolchain: $TAG is in the store already ($("$HOIST" -q digest "$TAG")); not rebuilding"
	echo "$TAG"
	exit 0
fi

TRIPLET=$(gcc -dumpmachine) # x86_64-linux-gnu
LIBGCC=/usr/lib/gcc/$TRIPLET/$MAJOR
[ -d "$LIBGCC" ] || { echo "make-toolchain: $LIBGCC not found" >&2; exit 1; }
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[ -x "$BUSYBOX" ] || { echo "make-toolchain: busybox-static is not installed" >&2; exit 1; }
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	echo "make-toolchain: $BUSYBOX is not static (install busybox-static)" >&2
	exit 1
fi

# (a fixed last component: the image's history names the staging dir, and
# the image should be the same every time it is made from the same files)
W=$(mktemp -d "${TMPDIR:-/tmp}/hoist-toolchain.XXXXXX")
trap 'rm -rf "$W"' EXIT
S=$W/toolchain
mkdir "$S"
say "toolchain: staging gcc $VER ($TRIPLET) in $S"

# put FILE...: copies each file, dereferenced, to the same path (its
# directory resolved, so /lib/x86_64-linux-gnu/libc.so.6 lands in
# usr/lib/x86_64-linux-gnu on a merged-/usr host).
put() {
	local f dir
	for f in "$@"; do
		dir=$(readlink -f "$(dirname "$f")")
		mkdir -p "$S$dir"
		cp -L "$f" "$S$dir/$(basename "$f")"
	done
}
# put_tree DIR...: a directory as it is (symlinks kept).
put_tree() {
	local d
	for d in "$@"; do
		mkdir -p "$S$(dirname "$(readlink -f "$d")")"
		cp -a "$(readlink -f "$d")" "$S$(readlink -f "$d")"
	done
}

# the compiler driver, the assembler, the linker
mkdir -p "$S/usr/bin"
cp -L "$GCC" "$S/usr/bin/gcc"
ln -s gcc "$S/usr/bin/cc"
ln -s gcc "$S/usr/bin/$TRIPLET-gcc"
cp -L "$(command -v as)" "$S/usr/bin/as"
cp -L "$(command -v ld)" "$S/usr/bin/ld"

# gcc's private directory: only what a C build needs
mkdir -p "$S$LIBGCC"
for f in cc1 collect2 lto-wrapper liblto_plugin.so crt*.o libgcc*.a libgcc_s.so*; do
	for g in "$LIBGCC"/$f; do
		if [ -e "$g" ]; then cp -L "$g" "$S$LIBGCC/"; fi
	done
done
put_tree "$LIBGCC/include"

# the C library's development files (headers, start files, libc.a, ...)
if command -v dpkg >/dev/null; then
	dpkg -L libc6-dev linux-libc-dev | grep -Ev '^/usr/share/|^/\.$' |
		while IFS= read -r f; do
			if [ -L "$f" ] || [ -f "$f" ]; then printf '%s\n' "$f"; fi
		done >"$W/files"
	# cp --parents keeps the paths; -a keeps the relative symlinks in there
	(cd / && sed 's|^/||' "$W/files" | xargs -d '\n' cp -a --parents -t "$S")
	# a symlink whose target the package list did not bring (libm.so ->
	# /lib/.../libm.so.6) is resolved with put below
else
	put_tree /usr/include
	for f in crt1.o crti.o crtn.o Scrt1.o gcrt1.o libc.so libc_nonshared.a libc.a \
		libm.so libm.a libmvec.a libpthread.a libdl.a librt.a; do
		if [ -e "/usr/lib/$TRIPLET/$f" ]; then put "/usr/lib/$TRIPLET/$f"; fi
	done
fi

# the shared libraries the programs load, and the dynamic loader
libs() {
	ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }'
}
{
	for p in "$S/usr/bin/gcc" "$S/usr/bin/as" "$S/usr/bin/ld" "$S$LIBGCC/cc1" \
		"$S$LIBGCC/collect2" "$S$LIBGCC/lto-wrapper" "$S$LIBGCC/liblto_plugin.so"; do
		libs "$p"
	done
	# what the linker scripts of libc.so / libm.so / libgcc_s.so name
	echo "/lib/$TRIPLET/libc.so.6"
	echo "/lib/$TRIPLET/libm.so.6"
	for f in libmvec.so.1 libgcc_s.so.1; do
		if [ -e "/lib/$TRIPLET/$f" ]; then echo "/lib/$TRIPLET/$f"; fi
	done
} | sort -u | while IFS= read -r lib; do
	put "$lib"
done

# The top-level symlinks of a merged-/usr host (/bin -> usr/bin, ...), so
# the paths programs and the loader use resolve the same way in the image
# (those whose targets the image has).
for d in bin sbin lib lib32 lib64 libx32; do
	if [ -L "/$d" ] && [ ! -e "$S/$d" ] && [ -d "$S/$(readlink "/$d" | sed 's|^/||')" ]; then
		ln -s "$(readlink "/$d")" "$S/$d"
	fi
done

# symlinks of the package lists whose targets are not in the image yet
# (libm.so -> /lib/x86_64-linux-gnu/libm.so.6): bring the targets
find "$S" -type l | while IFS= read -r l; do
	t=$(readlink "$l")
	case "$t" in
	/*) inside=$S$t; host=$t ;;
	*) inside=$(dirname "$l")/$t; host=$(dirname "${l#"$S"}")/$t ;;
	esac
	if [ ! -e "$inside" ] && [ -f "$host" ]; then
		put "$host"
	fi
done

# busybox: a shell and the coreutils, where gcc left the name free
cp "$BUSYBOX" "$S/usr/bin/busybox"
for a in $("$BUSYBOX" --list); do
	if [ ! -e "$S/usr/bin/$a" ] && [ ! -L "$S/usr/bin/$a" ]; then ln -s busybox "$S/usr/bin/$a"; fi
done
mkdir -p "$S/etc" "$S/root" "$S/tmp"
chmod 1777 "$S/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$S/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$S/etc/group"

dangling=0
while IFS= read -r l; do
	t=$(readlink "$l")
	case "$t" in /*) inside=$S$t ;; *) inside=$(dirname "$l")/$t ;; esac
	if [ ! -e "$inside" ]; then
		say "toolchain: warning: dangling symlink ${l#"$S"} -> $t"
		dangling=$((dangling + 1))
	fi
done < <(find "$S" -type l)
say "toolchain: $(du -sh "$S" | cut -f1) staged, $(find "$S" -type f | wc -l) files, $dangling dangling symlinks"
# the staging dir is ours: make it readable to everyone (a rootless build
# reads it through a user namespace)
chmod -R a+rX "$S"
"$HOIST" append scratch --layer "$S:/" --env PATH=/usr/bin:/bin \
	--cmd /bin/sh --label org.opencontainers.image.title="hoist demo C toolchain (gcc $VER)" \
	-t "$TAG" >&2
echo "$TAG"
