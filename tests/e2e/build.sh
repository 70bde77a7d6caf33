#!/usr/bin/env bash
# hoist build: every Dockerfile instruction on a busybox base the test
# makes itself; multi-stage builds, --target, .dockerignore, build args,
# ONBUILD, heredocs, ADD of a tarball and of a URL (a local http.server)
# with --checksum, a non-root USER, a RUN that deletes a base file; the
# results checked with inspect/config/export/ls-layer/run (and podman when
# it works); --iidfile/--metadata-file; -t to an oci: layout and a
# docker-archive; reproducible digests (--no-cache, another checkout with
# other mtimes); the layer cache (what re-runs after a content change, an
# mtime-only change, nothing).
. "$(dirname "$0")/../lib/common.sh"
have jq || skip "jq not installed"
have python3 || skip "python3 not installed"

case "$(uname -m)" in
x86_64) ARCH=amd64 ;;
aarch64) ARCH=arm64 ;;
*) ARCH=$(uname -m) ;;
esac

# hb LOG ARGS...: hoist build ARGS, progress into LOG, prints the digest;
# a failed build shows its log (ASan reports included) and fails the test.
hb() {
	local log=$1; shift
	local out rc=0
	out=$(hoist build "$@" 2>"$log") || rc=$?
	if [ $rc -ne 0 ]; then
		sed 's/^/   | /' "$log" >&2
		fail "hoist build $* exited $rc"
	fi
	if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$log"; then
		cat "$log" >&2
		fail "sanitizer report during hoist build $*"
	fi
	printf '%s\n' "$out" | tail -1
}
# ran LOG: the number of RUN steps the build executed (its last line)
ran() { sed -n 's/^built .*, \([0-9]*\) RUN executed)$/\1/p' "$1" | tail -1; }
# steps LOG: "INSTRUCTION => CACHED|RAN|-" for every step of a plain log
steps() {
	awk '
	function flush() { if (cur != "") print cur " => " st; cur = "" }
	/^\[[0-9]+\/[0-9]+\] / { flush(); cur = $0; sub(/^\[[0-9]+\/[0-9]+\] /, "", cur); st = "-"; next }
	/^      CACHED/ { if (cur != "") st = "CACHED"; next }
	/^      cache miss/ { if (cur != "") st = "RAN"; next }
	/^=> / || /^built / { flush() }
	END { flush() }' "$1"
}
# in IMAGE CMD...: runs CMD in IMAGE (no entrypoint) with hoist run
in_img() { local img=$1; shift; hoist run --entrypoint "" "$img" "$@"; }
json() { jq -cS "$@"; }

say "a busybox base made with tar and gzip, into the store as e2e/busybox:1"
make_layout "$T/base" busybox e2e-base "$ARCH" >/dev/null
hoist -q cp oci:"$T/base":busybox local:e2e/busybox:1 >/dev/null
mkdir -p "$T/tools"
cat >"$T/tools/Dockerfile" <<'DF'
FROM e2e/busybox:1
RUN busybox --install -s /bin && test -x /bin/mkdir && test -x /bin/sed
DF
hb "$T/tools.log" -t e2e/base:1 "$T/tools" >/dev/null
assert_eq "$(ran "$T/tools.log")" 1 "RUNs of the tools build"
assert_eq "$(in_img e2e/base:1 cat /etc/mark)" e2e-base "the base's file through hoist run"

say "a local web server for ADD URL"
mkdir -p "$T/www"
printf 'fetched over http\n' >"$T/www/remote.txt"
REMOTE_SUM=sha256:$(sha256 "$T/www/remote.txt")
PORT=$(free_port)
bg python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PORT"
for i in $(seq 1 100); do
	curl -fs -o /dev/null "http://127.0.0.1:$PORT/remote.txt" && break
	[ "$i" -lt 100 ] || fail "http.server did not start: $(cat "$T/bg.log")"
	sleep 0.1
done
REMOTE_URL=http://127.0.0.1:$PORT/remote.txt

say "the context of the full build"
C=$T/full
mkdir -p "$C/files/dir/sub" "$C/secret" "$C/payload/bin"
printf '#!/bin/sh\necho "hello $1 from uid $(id -u) in $(pwd)"\n' >"$C/files/hello.sh"
printf 'a\n' >"$C/files/a.txt"
printf 'b\n' >"$C/files/b.txt"
printf 'not a txt\n' >"$C/files/c.md"
printf 'owned\n' >"$C/files/owned.txt"
printf 'ignored\n' >"$C/files/ignored.txt"
printf 'x\n' >"$C/files/dir/x"
printf 'y\n' >"$C/files/dir/sub/y"
printf 'debug\n' >"$C/debug.log"
printf 'keep\n' >"$C/keep.log"
printf 'key\n' >"$C/secret/key"
printf 'p1\n' >"$C/payload/p1.txt"
printf '#!/bin/sh\necho p2\n' >"$C/payload/bin/p2"
chmod 0644 "$C"/files/* "$C"/*.log "$C/secret/key" "$C/payload/p1.txt"
chmod 0755 "$C/payload/bin/p2"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$C" -czf "$C/payload.tar.gz" payload
rm -rf "$C/payload"
cat >"$C/.dockerignore" <<'IGN'
# logs are not sent, except one
*.log
!keep.log
secret/
files/ignored.txt
IGN
cat >"$C/Dockerfile" <<'DF'
# syntax=docker/dockerfile:1
ARG BASE=e2e/base:1
ARG GREETING=hello
ARG ONLY_GLOBAL=global-only

FROM --platform=$BUILDPLATFORM ${BASE} AS tools
ARG TARGETARCH
ARG TARGETPLATFORM
ARG BUILDPLATFORM
RUN echo "target=$TARGETARCH $TARGETPLATFORM build=$BUILDPLATFORM" > /arch.txt
RUN mkdir -p /out/sub && echo one > /out/one.txt && echo two > /out/sub/two.txt && ln -s one.txt /out/link

FROM ${BASE} AS unused
RUN echo "the unused stage ran" && exit 9

FROM ${BASE} AS final
ARG GREETING
ARG VERSION=1.0
ARG REMOTE_URL
ARG REMOTE_SUM
LABEL org.example.version="$VERSION" org.example.greeting=${GREETING} "org.example.multi"="a b c"
ENV APP_HOME=/app PATH=/app/bin:/bin
ENV OLD_STYLE value with spaces
WORKDIR $APP_HOME
WORKDIR sub
RUN pwd > /pwd.txt && echo "${ONLY_GLOBAL:-unset} $GREETING $VERSION $OLD_STYLE" > /args.txt
RUN ["/bin/sh", "-c", "echo exec form in $APP_HOME > /exec.txt"]
RUN <<EOF
set -e
echo "heredoc says $GREETING" > /heredoc.txt
echo "second line" >> /heredoc.txt
EOF
RUN <<EOF
#!/bin/sh
echo "shebang script $0" > /shebang.txt
EOF
SHELL ["/bin/env", "SHELLMARK=via-shell", "/bin/sh", "-c"]
RUN echo "$SHELLMARK" > /shell.txt
SHELL ["/bin/sh", "-c"]
RUN rm /etc/mark
COPY --from=tools /out/ /app/fromstage/
COPY --from=tools /arch.txt /arch.txt
COPY --chmod=0755 files/hello.sh /app/bin/hello
COPY --chown=1234:2345 --chmod=0640 files/owned.txt /app/owned.txt
COPY --chown=1234:2345 files/a.txt /newdir/sub/a.txt
COPY files/*.txt /app/globbed/
COPY files/dir /app/dircopy
COPY files/dir/ files/c.md /app/dircopy2/
COPY . /ctx/
ADD payload.tar.gz /app/unpacked/
ADD --checksum=${REMOTE_SUM} ${REMOTE_URL} /app/remote.txt
COPY <<EOF /etc/motd
welcome, $GREETING
EOF
RUN echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd && \
    echo 'app:x:1000:' >> /etc/group && \
    mkdir -p /home/app /data && chown app:app /home/app /data
USER app
RUN id -u > /data/id.txt && id -g >> /data/id.txt && touch /home/app/mine && \
    if touch /etc/nope 2>/dev/null; then echo "app could write to /etc"; exit 1; fi
WORKDIR /app
EXPOSE 8080 9090/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=1s --retries=3 CMD ["/bin/true"]
ENTRYPOINT ["/app/bin/hello"]
CMD ["world"]
DF

say "the full build: -t to the store, an oci: layout and a docker-archive"
D=$(hb "$T/full.log" --build-arg VERSION=2.5 --build-arg REMOTE_URL="$REMOTE_URL" \
	--build-arg REMOTE_SUM="$REMOTE_SUM" \
	-t e2e/full:1 -t oci:"$T/out":full -t docker-archive:"$T/full.tar":e2e/full:1 "$C")
case "$D" in sha256:*) ;; *) fail "build printed no digest: '$D'" ;; esac
grep -q 'the unused stage ran' "$T/full.log" && fail "the unused stage was built"
assert_eq "$(hoist digest e2e/full:1)" "$D" "digest in the store"
assert_eq "$(hoist digest local:e2e/full:1)" "$D" "digest in the store (local:)"
assert_eq "$(hoist digest oci:"$T/out":full)" "$D" "digest in the oci: layout"
assert_eq "$(hoist digest docker-archive:"$T/full.tar")" "$D" "digest in the docker-archive"
tar -tf "$T/full.tar" | grep -x 'manifest.json' >/dev/null || fail "docker-archive has no manifest.json"
CFG=$(hoist manifest e2e/full:1 | jq -r .config.digest)
hoist images | grep -E '^e2e/full +1 ' >/dev/null || fail "hoist images lacks e2e/full:1: $(hoist images)"
grep -q "^=> e2e/full:1 $D" "$T/full.log" || fail "the log does not name the tag"

say "  the configuration"
hoist config e2e/full:1 >"$T/full.cfg"
jq -e --arg a "$ARCH" '.architecture == $a and .os == "linux"' "$T/full.cfg" >/dev/null || fail "platform: $(jq -c '{architecture,os}' "$T/full.cfg")"
c() { jq -cS ".config$1" "$T/full.cfg"; }
assert_eq "$(c '.Labels')" '{"mark":"e2e-base","org.example.greeting":"hello","org.example.multi":"a b c","org.example.version":"2.5"}' "LABEL"
jq -e '.config.Env | index("APP_HOME=/app") and index("PATH=/app/bin:/bin") and index("OLD_STYLE=value with spaces")' "$T/full.cfg" >/dev/null || fail "ENV: $(c .Env)"
assert_eq "$(c .WorkingDir)" '"/app"' "WORKDIR"
assert_eq "$(c .User)" '"app"' "USER"
assert_eq "$(c '.ExposedPorts|keys')" '["8080/tcp","9090/udp"]' "EXPOSE"
assert_eq "$(c '.Volumes|keys')" '["/data"]' "VOLUME"
assert_eq "$(c .StopSignal)" '"SIGTERM"' "STOPSIGNAL"
assert_eq "$(c .Healthcheck)" '{"Interval":30000000000,"Retries":3,"StartPeriod":1000000000,"Test":["CMD","/bin/true"],"Timeout":5000000000}' "HEALTHCHECK"
assert_eq "$(c .Entrypoint)" '["/app/bin/hello"]' "ENTRYPOINT"
assert_eq "$(c .Cmd)" '["world"]' "CMD"
assert_eq "$(c .Shell)" '["/bin/sh","-c"]' "SHELL"
# one history entry per instruction of the final stage, plus the base's
assert_eq "$(jq '[.history[] | select(.empty_layer != true)] | length' "$T/full.cfg")" \
	"$(hoist manifest e2e/full:1 | jq '.layers | length')" "history entries with layers == layers"
jq -e '[.history[].created_by] | any(startswith("HEALTHCHECK"))' "$T/full.cfg" >/dev/null || fail "no HEALTHCHECK in history"
hoist inspect --json e2e/full:1 >"$T/full.json"
jq -e '.user == "app" and .workingDir == "/app" and .entrypoint == ["/app/bin/hello"] and .cmd == ["world"]' "$T/full.json" >/dev/null ||
	fail "inspect --json: $(jq -c '{user,workingDir,entrypoint,cmd}' "$T/full.json")"
jq -e '.labels["org.example.version"] == "2.5" and .stopSignal == "SIGTERM"' "$T/full.json" >/dev/null || fail "inspect --json labels/stopSignal"

say "  the filesystem (hoist export)"
hoist export e2e/full:1 "$T/rootfs"
R=$T/rootfs
f() { cat "$R/$1" 2>/dev/null || fail "the image lacks /$1"; }
assert_eq "$(f pwd.txt)" /app/sub "relative WORKDIR"
assert_eq "$(f args.txt)" "unset hello 2.5 value with spaces" "ARG scoping and --build-arg"
assert_eq "$(f exec.txt)" "exec form in /app" "RUN exec form"
assert_eq "$(f heredoc.txt)" "heredoc says hello
second line" "RUN heredoc"
# run as a file (its $0 is the script's path), not as "sh -c BODY"
grep -Eq '^shebang script /.' "$R/shebang.txt" || fail "the #! heredoc did not run as a file: $(cat "$R/shebang.txt" 2>&1)"
grep -Eq '^shebang script (/bin/)?sh$' "$R/shebang.txt" && fail "the #! heredoc ran as sh -c: $(cat "$R/shebang.txt")"
assert_eq "$(f shell.txt)" via-shell "SHELL"
assert_eq "$(f arch.txt)" "target=$ARCH linux/$ARCH build=linux/$ARCH" "TARGETARCH/BUILDPLATFORM"
[ ! -e "$R/etc/mark" ] || fail "RUN rm /etc/mark: the file is still in the image"
assert_eq "$(f app/fromstage/one.txt)" one "COPY --from (dir contents)"
assert_eq "$(f app/fromstage/sub/two.txt)" two "COPY --from (subdir)"
assert_eq "$(readlink "$R/app/fromstage/link")" one.txt "COPY --from keeps symlinks"
[ ! -e "$R/app/fromstage/out" ] || fail "COPY /out/ made /app/fromstage/out"
assert_eq "$(cd "$R/app/globbed" && ls | tr '\n' ' ')" "a.txt b.txt owned.txt " "COPY glob (an ignored file excluded)"
assert_eq "$(cd "$R/app/dircopy" && find . | sort | tr '\n' ' ')" ". ./sub ./sub/y ./x " "COPY dir copies its contents"
assert_eq "$(cd "$R/app/dircopy2" && find . | sort | tr '\n' ' ')" ". ./c.md ./sub ./sub/y ./x " "COPY dir/ file to dir/"
assert_eq "$(f app/unpacked/payload/p1.txt)" p1 "ADD tar.gz is extracted"
[ -x "$R/app/unpacked/payload/bin/p2" ] || fail "ADD tar.gz lost the mode of bin/p2"
[ ! -e "$R/app/unpacked/payload.tar.gz" ] || fail "ADD copied the tarball instead of extracting it"
assert_eq "$(f app/remote.txt)" "fetched over http" "ADD URL --checksum"
assert_eq "$(f etc/motd)" "welcome, hello" "COPY heredoc (expanded)"
assert_eq "$(f data/id.txt | tr '\n' ' ')" "1000 1000 " "id -u/-g as USER app"
[ -e "$R/home/app/mine" ] || fail "USER app could not write to its home"
[ ! -e "$R/etc/nope" ] || fail "USER app wrote to /etc"
[ -e "$R/ctx/keep.log" ] || fail ".dockerignore: the !exception keep.log is missing"
[ -e "$R/ctx/files/a.txt" ] || fail "COPY . lacks files/a.txt"
[ -e "$R/ctx/payload.tar.gz" ] || fail "COPY . lacks payload.tar.gz"
for x in debug.log secret secret/key files/ignored.txt; do
	[ ! -e "$R/ctx/$x" ] || fail ".dockerignore: $x is in the image"
done
hoist export e2e/full:1 - >"$T/full-flat.tar"
tar -tvf "$T/full-flat.tar" --numeric-owner >"$T/full-flat.lst"
grep -E '^-rw-r----- 1234/2345 .* app/owned.txt$' "$T/full-flat.lst" >/dev/null ||
	fail "COPY --chown/--chmod: $(grep owned.txt "$T/full-flat.lst")"
grep -E '^-rwxr-xr-x 0/0 .* app/bin/hello$' "$T/full-flat.lst" >/dev/null ||
	fail "COPY --chmod=0755: $(grep app/bin/hello "$T/full-flat.lst")"
grep -E '^-rw-r--r-- 1000/1000 .* data/id.txt$' "$T/full-flat.lst" >/dev/null ||
	fail "a file written by USER app: $(grep data/id.txt "$T/full-flat.lst")"
grep -E '^-rw------- 0/0 .* app/remote.txt$' "$T/full-flat.lst" >/dev/null ||
	fail "ADD URL makes a 0600 root file (as docker): $(grep remote.txt "$T/full-flat.lst")"
grep -E ' etc/mark$' "$T/full-flat.lst" && fail "the flattened export still has etc/mark"
hoist ls-layer e2e/full:1 >"$T/full.ls"
grep -q '^  D /etc/mark$' "$T/full.ls" || fail "ls-layer shows no deletion of /etc/mark"
grep -q '^  A /app/owned.txt ' "$T/full.ls" || fail "ls-layer lacks /app/owned.txt"

say "  hoist run"
assert_eq "$(hoist run e2e/full:1)" "hello world from uid 1000 in /app" "hoist run (ENTRYPOINT+CMD, USER, WORKDIR)"
assert_eq "$(hoist run e2e/full:1 there)" "hello there from uid 1000 in /app" "hoist run with arguments"
assert_eq "$(in_img e2e/full:1 ls /etc | grep -c '^mark$' || true)" 0 "hoist run ls /etc shows the deleted file"
assert_eq "$(in_img e2e/full:1 cat /etc/motd)" "welcome, hello" "hoist run cat"
assert_eq "$(in_img e2e/full:1 sh -c 'echo $OLD_STYLE')" "value with spaces" "ENV in hoist run"

say "  podman runs the oci: layout and the docker-archive"
# (podman complains on stderr that it cannot schedule the HEALTHCHECK
# without systemd: stdout only)
rc=0; out=$(podman_run oci:"$T/out":full 2>"$T/podman.err") || rc=$?
if [ $rc -ne 77 ]; then
	[ $rc -eq 0 ] || fail "podman run oci: failed ($rc): $out $(cat "$T/podman.err")"
	assert_eq "$out" "hello world from uid 1000 in /app" "podman run of the oci: layout"
	out=$(podman_run docker-archive:"$T/full.tar" podman 2>"$T/podman.err") || fail "podman run docker-archive: $out $(cat "$T/podman.err")"
	assert_eq "$out" "hello podman from uid 1000 in /app" "podman run of the docker-archive"
	out=$(podman_run --entrypoint /bin/ls oci:"$T/out":full /etc 2>"$T/podman.err") || fail "podman ls: $out $(cat "$T/podman.err")"
	printf '%s\n' "$out" | grep -qx mark && fail "podman sees /etc/mark"
fi
if have skopeo; then skopeo inspect oci:"$T/out":full >/dev/null || fail "skopeo inspect"; fi

say "--target: only the stages the target needs"
DT=$(hb "$T/target.log" --target tools -t e2e/tools:1 --build-arg REMOTE_URL="$REMOTE_URL" \
	--build-arg REMOTE_SUM="$REMOTE_SUM" "$C")
grep -q 'the unused stage ran' "$T/target.log" && fail "--target tools built the unused stage"
grep -q 'LABEL' "$T/target.log" && fail "--target tools ran steps of the final stage"
assert_eq "$(in_img e2e/tools:1 cat /arch.txt)" "target=$ARCH linux/$ARCH build=linux/$ARCH" "--target image content"
rc=0; in_img e2e/tools:1 test -e /app || rc=$?
assert_eq "$rc" 1 "test -e /app in the --target image (1: absent)"
[ "$DT" != "$D" ] || fail "--target gave the full image"
expect_fail "Dockerfile:14: RUN: .*exit code 9" hoist build --target unused -t e2e/unused:1 "$C"
expect_fail "nosuch" hoist build --target nosuch "$C"

say "a build without -t goes to the store as build:<id>"
DN=$(hb "$T/notag.log" --build-arg REMOTE_URL="$REMOTE_URL" --build-arg VERSION=2.5 \
	--build-arg REMOTE_SUM="$REMOTE_SUM" "$C")
assert_eq "$DN" "$D" "digest of the untagged build"
hoist images | grep -E "^build +${CFG:7:12} " >/dev/null || fail "no build:${CFG:7:12} in $(hoist images)"

say "ONBUILD: a base with triggers; a child FROM it runs them"
mkdir -p "$T/ob-base" "$T/ob-child"
cat >"$T/ob-base/Dockerfile" <<'DF'
FROM e2e/base:1
ONBUILD RUN echo "trigger ran" > /onbuild.txt
ONBUILD COPY trigger.txt /trigger.txt
RUN echo base > /base.txt
DF
hb "$T/ob-base.log" -t e2e/onbuild:1 "$T/ob-base" >/dev/null
assert_eq "$(hoist config e2e/onbuild:1 | jq -c .config.OnBuild)" \
	'["RUN echo \"trigger ran\" > /onbuild.txt","COPY trigger.txt /trigger.txt"]' "OnBuild in the base's config"
rc=0; in_img e2e/onbuild:1 test -e /onbuild.txt || rc=$?
assert_eq "$rc" 1 "test -e /onbuild.txt in the ONBUILD base (1: the trigger did not run there)"
printf 'from the child context\n' >"$T/ob-child/trigger.txt"
cat >"$T/ob-child/Dockerfile" <<'DF'
FROM e2e/onbuild:1
RUN cat /base.txt /onbuild.txt /trigger.txt > /all.txt
DF
hb "$T/ob-child.log" -t e2e/onbuild-child:1 "$T/ob-child" >/dev/null
assert_eq "$(in_img e2e/onbuild-child:1 cat /all.txt)" "base
trigger ran
from the child context" "ONBUILD triggers in the child"
assert_eq "$(hoist config e2e/onbuild-child:1 | jq -c '.config.OnBuild // [] | length')" 0 "the child does not inherit the triggers"

say "reproducible: --no-cache, and another checkout with other mtimes, give the same digest"
mkdir -p "$T/elsewhere/deeper"
cp -r "$C" "$T/elsewhere/deeper/ctx"
find "$T/elsewhere/deeper/ctx" -exec touch -h -d '2001-02-03 04:05:06' {} +
D2=$(hb "$T/repro.log" --no-cache --build-arg VERSION=2.5 --build-arg REMOTE_URL="$REMOTE_URL" \
	--build-arg REMOTE_SUM="$REMOTE_SUM" -t oci:"$T/repro":full "$T/elsewhere/deeper/ctx")
assert_eq "$(grep -c CACHED "$T/repro.log" || true)" 0 "CACHED steps with --no-cache"
[ "$(ran "$T/repro.log")" -ge 10 ] || fail "--no-cache ran only $(ran "$T/repro.log") RUNs"
assert_eq "$D2" "$D" "digest of a --no-cache build of a copy of the context"
D3=$(hb "$T/repro2.log" --no-cache --build-arg VERSION=2.5 --build-arg REMOTE_URL="$REMOTE_URL" \
	--build-arg REMOTE_SUM="$REMOTE_SUM" -t e2e/full:again "$C")
assert_eq "$D3" "$D" "digest of a second --no-cache build"

say "a RUN that reads file times sees the layer's times, not the build's clock"
# Later steps read the snapshot of a COPY or RUN, not its layer: it must
# hold the times the layer records (the epoch, 0 here), or a RUN that
# archives or lists files gives another result on the next build (and on
# a machine that unpacks the layer from a cache).
M=$T/mtimes
mkdir -p "$M/d/sub"
printf 'x\n' >"$M/d/sub/x"
cat >"$M/Dockerfile" <<'DF'
FROM e2e/base:1
COPY d /d
RUN mkdir -p /made/deeper && echo y > /made/deeper/y && ln -s y /made/deeper/ln
RUN stat -c '%Y %n' /d /d/sub /d/sub/x /made /made/deeper /made/deeper/y > /times && tar -cf - /d /made | sha256sum > /tarsum
DF
DM1=$(hb "$T/mt1.log" --no-cache -t e2e/mtimes:1 "$M")
sleep 1.1
DM2=$(hb "$T/mt2.log" --no-cache -t e2e/mtimes:2 "$M")
assert_eq "$DM2" "$DM1" "digest of a second build, a second later"
say "FROM an image built here reads the snapshots of its layers (nothing unpacked)"
# (before anything runs e2e/mtimes:1: hoist run would leave its unpacked
# filesystem in the store)
mkdir -p "$T/fromlocal"
printf 'FROM e2e/mtimes:1\nRUN cat /times /tarsum > /seen\n' >"$T/fromlocal/Dockerfile"
hb "$T/fromlocal.log" --progress plain -t e2e/fromlocal:1 "$T/fromlocal" >/dev/null
grep unpacking "$T/fromlocal.log" && fail "FROM e2e/mtimes:1 unpacked layers"
assert_eq "$(in_img e2e/mtimes:1 cut -d' ' -f1 /times | sort -u)" 0 "times a RUN sees"
assert_eq "$(in_img e2e/fromlocal:1 cat /seen)" "$(in_img e2e/mtimes:1 cat /times /tarsum)" "what the RUN saw"

say "the cache: nothing changed, a content change, an mtime-only change"
K=$T/cachectx
mkdir -p "$K"
printf 'a1\n' >"$K/a.txt"
printf 'b1\n' >"$K/b.txt"
cat >"$K/Dockerfile" <<'DF'
FROM e2e/base:1
ENV STEP=1
COPY a.txt /a.txt
RUN cat /a.txt > /a.copy
COPY b.txt /b.txt
RUN cat /b.txt > /b.copy
RUN ls / > /listing && echo done > /done
CMD ["cat", "/b.copy"]
DF
K1=$(hb "$T/k1.log" --progress plain -t e2e/cache:1 "$K")
assert_eq "$(ran "$T/k1.log")" 3 "RUNs of the first build"
K2=$(hb "$T/k2.log" --progress plain -t e2e/cache:2 "$K")
assert_eq "$K2" "$K1" "digest of the rebuild"
tail -1 "$T/k2.log" | grep -q ', 0 RUN executed)$' || fail "last line of the rebuild: $(tail -1 "$T/k2.log")"
assert_eq "$(steps "$T/k2.log" | tr '\n' '|')" "FROM e2e/base:1@$(hoist digest e2e/base:1) => -|ENV STEP=1 => -|COPY a.txt /a.txt => CACHED|RUN cat /a.txt > /a.copy => CACHED|COPY b.txt /b.txt => CACHED|RUN cat /b.txt > /b.copy => CACHED|RUN ls / > /listing && echo done > /done => CACHED|CMD [\"cat\", \"/b.copy\"] => -|" "steps of the rebuild"
grep -q 'cache miss' "$T/k2.log" && fail "a cache miss in the rebuild"
# the default progress says CACHED too
hb "$T/k2b.log" -t e2e/cache:2 "$K" >/dev/null
assert_eq "$(grep -c '^      CACHED$' "$T/k2b.log")" 5 "CACHED lines with --progress auto"

printf 'b2\n' >"$K/b.txt"
K3=$(hb "$T/k3.log" --progress plain -t e2e/cache:3 "$K")
[ "$K3" != "$K1" ] || fail "a content change gave the same image"
assert_eq "$(ran "$T/k3.log")" 2 "RUNs after changing b.txt"
assert_eq "$(steps "$T/k3.log" | grep -E '^(COPY|RUN)' | tr '\n' '|')" "COPY a.txt /a.txt => CACHED|RUN cat /a.txt > /a.copy => CACHED|COPY b.txt /b.txt => RAN|RUN cat /b.txt > /b.copy => RAN|RUN ls / > /listing && echo done > /done => RAN|" "steps after changing b.txt"
assert_eq "$(hoist run e2e/cache:3)" b2 "the rebuilt image has the new content"

touch -d '2030-01-01' "$K/a.txt" "$K/b.txt" "$K/Dockerfile"
touch "$K"
K4=$(hb "$T/k4.log" --progress plain -t e2e/cache:4 "$K")
assert_eq "$K4" "$K3" "digest after touching the sources"
assert_eq "$(ran "$T/k4.log")" 0 "RUNs after an mtime-only change"
assert_eq "$(steps "$T/k4.log" | grep -c '=> CACHED$')" 5 "CACHED steps after an mtime-only change"

printf 'b1\n' >"$K/b.txt"
K5=$(hb "$T/k5.log" -t e2e/cache:5 "$K")
assert_eq "$K5" "$K1" "b.txt changed back: the first image again"
assert_eq "$(ran "$T/k5.log")" 0 "RUNs after changing b.txt back"

printf 'a2\n' >"$K/a.txt"
hb "$T/k6.log" --progress plain -t e2e/cache:6 "$K" >/dev/null
assert_eq "$(ran "$T/k6.log")" 3 "RUNs after changing a.txt (everything after it)"

say "a changed --build-arg misses only the steps that use it"
A=$T/argctx
mkdir -p "$A"
cat >"$A/Dockerfile" <<'DF'
FROM e2e/base:1
RUN echo first > /first
ARG FLAVOUR=plain
RUN echo "$FLAVOUR" > /flavour
DF
hb "$T/a1.log" -t e2e/arg:1 "$A" >/dev/null
assert_eq "$(in_img e2e/arg:1 cat /flavour)" plain "ARG default"
hb "$T/a2.log" --progress plain --build-arg FLAVOUR=spicy -t e2e/arg:2 "$A" >/dev/null
assert_eq "$(in_img e2e/arg:2 cat /flavour)" spicy "--build-arg override"
assert_eq "$(steps "$T/a2.log" | grep '^RUN' | tr '\n' '|')" "RUN echo first > /first => CACHED|RUN echo \"\$FLAVOUR\" > /flavour => RAN|" "steps with another --build-arg"
hb "$T/a3.log" --build-arg NOT_DECLARED=1 -t e2e/arg:3 "$A" >/dev/null
grep -q "NOT_DECLARED" "$T/a3.log" || fail "no warning about an unused --build-arg"
say "COPY --chown: the directories it creates belong to that user too (as docker and buildkit do)"
grep -E '^-rw-r--r-- 1234/2345 .* newdir/sub/a.txt$' "$T/full-flat.lst" >/dev/null ||
	fail "COPY --chown to a new directory: $(grep 'newdir/sub/a.txt' "$T/full-flat.lst")"
grep -E '^drwxr-xr-x 1234/2345 .* newdir/sub/$' "$T/full-flat.lst" >/dev/null &&
	grep -E '^drwxr-xr-x 1234/2345 .* newdir/$' "$T/full-flat.lst" >/dev/null ||
	fail "COPY --chown=1234:2345 a.txt /newdir/sub/a.txt made these directories: $(grep -E ' newdir/(sub/)?$' "$T/full-flat.lst" | tr '\n' ';')"

say "COPY --chown leaves the owner of a directory that already existed alone"
# the layer of 'COPY --chown=1234:2345 --chmod=0640 files/owned.txt /app/owned.txt'
idx=$(hoist config e2e/full:1 | jq '[.history[] | select(.empty_layer != true)] | map(.created_by | startswith("COPY --chown=1234:2345 --chmod=0640")) | index(true)')
[ "$idx" != null ] || fail "no history entry for the COPY --chown step"
blob=$(hoist manifest e2e/full:1 | jq -r ".layers[$idx].digest")
tar -tzvf "$HOIST_HOME/blobs/sha256/${blob#sha256:}" --numeric-owner >"$T/chown-layer.lst"
grep -E ' app/owned.txt$' "$T/chown-layer.lst" >/dev/null || fail "layer $idx is not the COPY --chown layer: $(cat "$T/chown-layer.lst")"
if grep -E ' app/$' "$T/chown-layer.lst" | grep -vE '^d[rwx-]{9} 0/0 ' >/dev/null; then
	fail "COPY --chown changed the owner of the existing /app: $(grep -E ' app/$' "$T/chown-layer.lst")"
fi

say "--iidfile and --metadata-file (absolute and relative paths)"
hb "$T/iid.log" --build-arg VERSION=2.5 --build-arg REMOTE_URL="$REMOTE_URL" --build-arg REMOTE_SUM="$REMOTE_SUM" \
	--iidfile "$T/iid" --metadata-file "$T/meta.json" -t e2e/full:1 "$C" >/dev/null
assert_eq "$(cat "$T/iid")" "$CFG" "--iidfile holds the config digest"
assert_eq "$(jq -r '."containerimage.digest"' "$T/meta.json")" "$D" "metadata containerimage.digest"
assert_eq "$(jq -r '."containerimage.config.digest"' "$T/meta.json")" "$CFG" "metadata config digest"
mkdir -p "$T/rel"
(cd "$T/rel" && hoist build -q --iidfile iid.txt --metadata-file sub-meta.json --build-arg VERSION=2.5 \
	--build-arg REMOTE_URL="$REMOTE_URL" --build-arg REMOTE_SUM="$REMOTE_SUM" -t e2e/full:1 "$C" >/dev/null) ||
	fail "a build with a relative --iidfile failed"
assert_eq "$(cat "$T/rel/iid.txt")" "$CFG" "relative --iidfile"
assert_eq "$(ls -A "$T/rel" | tr '\n' ' ')" "iid.txt sub-meta.json " "files next to a relative --iidfile"
echo "all good"
