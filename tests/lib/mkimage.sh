# Makes OCI images with plain shell tools (tar, gzip, sha256sum, python3),
# so tests and the demo have base images that hoist did not make.
# Needs $T (a scratch directory).

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# _put_blob LAYOUT FILE: stores FILE as a blob of LAYOUT, prints its digest
_put_blob() {
	local d
	d=$(sha256 "$2")
	mkdir -p "$1/blobs/sha256"
	cp "$2" "$1/blobs/sha256/$d"
	echo "$d"
}

# make_rootfs DIR [MARK]: a busybox root filesystem, with /etc/mark holding
# MARK so different images have different layers.
make_rootfs() {
	local dir=$1 mark=${2:-hoist}
	if ! command -v busybox >/dev/null && [ ! -x /bin/busybox ]; then
		echo "SKIP: busybox-static not installed"; exit 77
	fi
	mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp"
	cp "$(command -v busybox || echo /bin/busybox)" "$dir/bin/busybox"
	local a
	for a in sh echo cat ls id printf true false env pwd uname sleep; do
		ln -sf busybox "$dir/bin/$a"
	done
	printf '%s\n' "$mark" >"$dir/etc/mark"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$dir/etc/group"
}

# make_layout DIR TAG [MARK] [ARCH]: writes a single-platform busybox image
# into the OCI layout DIR (created if needed) with plain shell tools, so the
# tests have a base image that hoist did not make.  Prints the manifest
# digest.
make_layout() {
	local dir=$1 tag=$2 mark=${3:-hoist} arch=${4:-amd64}
	local w="$T/mk.$RANDOM$RANDOM"
	mkdir -p "$w/rootfs" "$dir/blobs/sha256"
	make_rootfs "$w/rootfs" "$mark"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$w/rootfs" -cf "$w/layer.tar" .
	gzip -n -c "$w/layer.tar" >"$w/layer.tar.gz"
	local diff_id layer layer_size cfg cfg_size man man_size
	diff_id=$(sha256 "$w/layer.tar")
	layer=$(_put_blob "$dir" "$w/layer.tar.gz")
	layer_size=$(stat -c %s "$w/layer.tar.gz")
	printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"Labels":{"mark":"%s"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"make_layout %s"}]}' \
		"$arch" "$mark" "$diff_id" "$mark" >"$w/config.json"
	cfg=$(_put_blob "$dir" "$w/config.json")
	cfg_size=$(stat -c %s "$w/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
		"$cfg" "$cfg_size" "$layer" "$layer_size" >"$w/manifest.json"
	man=$(_put_blob "$dir" "$w/manifest.json")
	man_size=$(stat -c %s "$w/manifest.json")
	_layout_add "$dir" "$tag" "application/vnd.oci.image.manifest.v1+json" "$man" "$man_size" \
		"{\"os\":\"linux\",\"architecture\":\"$arch\"}"
	rm -rf "$w"
	echo "sha256:$man"
}

# make_index_layout DIR TAG: a two-platform (amd64, arm64) index. Prints
# the index digest.
make_index_layout() {
	local dir=$1 tag=$2 w="$T/mki.$RANDOM"
	mkdir -p "$w"
	local a b
	a=$(make_layout "$w/tmp" a "$tag-amd64" amd64)
	b=$(make_layout "$w/tmp" b "$tag-arm64" arm64)
	mkdir -p "$dir/blobs/sha256"
	cp -n "$w/tmp/blobs/sha256/"* "$dir/blobs/sha256/"
	local sa sb
	sa=$(stat -c %s "$dir/blobs/sha256/${a#sha256:}")
	sb=$(stat -c %s "$dir/blobs/sha256/${b#sha256:}")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}' \
		"$a" "$sa" "$b" "$sb" >"$w/index.json"
	local idx isz
	idx=$(_put_blob "$dir" "$w/index.json")
	isz=$(stat -c %s "$w/index.json")
	_layout_add "$dir" "$tag" "application/vnd.oci.image.index.v1+json" "$idx" "$isz" ""
	rm -rf "$w"
	echo "sha256:$idx"
}

# _layout_add DIR TAG MEDIATYPE HEX SIZE PLATFORMJSON
_layout_add() {
	local dir=$1 tag=$2 mt=$3 hex=$4 size=$5 plat=$6
	[ -f "$dir/oci-layout" ] || printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	[ -f "$dir/index.json" ] || printf '{"schemaVersion":2,"manifests":[]}' >"$dir/index.json"
	python3 - "$dir/index.json" "$tag" "$mt" "$hex" "$size" "$plat" <<'PY'
import json, sys
p, tag, mt, hx, size, plat = sys.argv[1:]
idx = json.load(open(p))
m = [e for e in idx.get("manifests", []) if e.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
d = {"mediaType": mt, "digest": "sha256:" + hx, "size": int(size),
     "annotations": {"org.opencontainers.image.ref.name": tag}}
if plat:
    d["platform"] = json.loads(plat)
m.append(d)
idx["manifests"] = m
json.dump(idx, open(p, "w"))
PY
}

# make_layout_from_tar DIR TAG TARFILE: an image whose only layer is
# TARFILE as it is (uncompressed), for hostile-layer tests.  Prints the
# manifest digest.
make_layout_from_tar() {
	local dir=$1 tag=$2 tarfile=$3 w="$T/mkt.$RANDOM$RANDOM"
	mkdir -p "$w" "$dir/blobs/sha256"
	local layer size cfg cfg_size man man_size
	layer=$(_put_blob "$dir" "$tarfile")
	size=$(stat -c %s "$tarfile")
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" >"$w/config.json"
	cfg=$(_put_blob "$dir" "$w/config.json")
	cfg_size=$(stat -c %s "$w/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$cfg" "$cfg_size" "$layer" "$size" >"$w/manifest.json"
	man=$(_put_blob "$dir" "$w/manifest.json")
	man_size=$(stat -c %s "$w/manifest.json")
	_layout_add "$dir" "$tag" "application/vnd.oci.image.manifest.v1+json" "$man" "$man_size" ""
	rm -rf "$w"
	echo "sha256:$man"
}
