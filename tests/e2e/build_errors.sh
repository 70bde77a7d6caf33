#!/usr/bin/env bash
# hoist build: bad Dockerfiles and bad inputs fail with "Dockerfile:LINE"
# messages and a non-zero exit, print no digest, and leave no image under
# the tag (nor replace the image an earlier build left there), nor
# temporary directories in the store.
. "$(dirname "$0")/../lib/common.sh"

case "$(uname -m)" in
x86_64) ARCH=amd64 ;;
aarch64) ARCH=arm64 ;;
*) ARCH=$(uname -m) ;;
esac
make_layout "$T/base" busybox e2e-errors "$ARCH" >/dev/null
hoist -q cp oci:"$T/base":busybox local:e2e/busybox:1 >/dev/null

# bad NAME LINE PATTERN [BUILD OPTIONS...]: builds $T/NAME (its Dockerfile
# and files) with -t e2e/bad-NAME:1; the build must fail with an error
# naming "Dockerfile:LINE" and matching PATTERN, print nothing on stdout,
# and leave no e2e/bad-NAME image.
bad() {
	local name=$1 line=$2 pat=$3; shift 3
	local rc=0
	hoist build "$@" -t "e2e/bad-$name:1" "$T/$name" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
	[ $rc -ne 0 ] || fail "$name: the build succeeded"
	[ $rc -lt 128 ] || fail "$name: the build died of a signal ($rc): $(cat "$T/$name.err")"
	if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error:' "$T/$name.err"; then
		cat "$T/$name.err" >&2
		fail "$name: sanitizer report"
	fi
	local msg
	msg=$(grep 'error:' "$T/$name.err" | tail -1)
	[ -n "$msg" ] || fail "$name: no error message: $(cat "$T/$name.err")"
	printf '%s\n' "$msg" | grep -Eq "Dockerfile:$line: " || fail "$name: the error does not name Dockerfile:$line: $msg"
	printf '%s\n' "$msg" | grep -Eq -- "$pat" || fail "$name: the error lacks /$pat/: $msg"
	[ ! -s "$T/$name.out" ] || fail "$name: a failed build printed on stdout: $(cat "$T/$name.out")"
	if hoist digest "local:e2e/bad-$name:1" >/dev/null 2>&1; then
		fail "$name: the failed build left an image under its tag"
	fi
	if hoist images | grep "^e2e/bad-$name " >/dev/null; then
		fail "$name: hoist images lists the failed build"
	fi
	printf '   %s: %s\n' "$name" "$msg"
}
# df NAME: the Dockerfile of case NAME from stdin
df() { mkdir -p "$T/$1"; cat >"$T/$1/Dockerfile"; }

say "syntax errors: nothing runs"
df unknown <<'DF'
FROM e2e/busybox:1
FROBNICATE the widgets
RUN echo should not run
DF
bad unknown 2 "unknown instruction.*FROBNICATE"
grep -q 'should not run' "$T/unknown.err" && fail "a step ran before the syntax error was reported"

df heredoc <<'DF'
FROM e2e/busybox:1
RUN echo fine
RUN <<EOF
echo the terminator never comes
DF
bad heredoc 3 "unterminated heredoc"
grep -q '^fine$' "$T/heredoc.err" && fail "a step ran before the heredoc error was reported"

df flag <<'DF'
FROM e2e/busybox:1
COPY --frobnicate=yes a.txt /a.txt
DF
echo a >"$T/flag/a.txt"
bad flag 2 "unknown flag.*frobnicate"

df runflag <<'DF'
FROM e2e/busybox:1
RUN echo one
RUN --frobnicate=1 echo two
DF
bad runflag 3 "unknown flag.*frobnicate"

df noargs <<'DF'
FROM e2e/busybox:1
ENV
DF
bad noargs 2 "ENV"

df nofrom <<'DF'
RUN echo no FROM before me
DF
bad nofrom 1 "FROM|no stage|RUN"

say "errors found while building"
df missing <<'DF'
FROM e2e/busybox:1
RUN echo before
COPY there.txt missing.txt /dst/
DF
echo there >"$T/missing/there.txt"
bad missing 3 "missing\.txt"

df ignored <<'DF'
FROM e2e/busybox:1
COPY secret.txt /secret.txt
DF
echo secret >"$T/ignored/secret.txt"
echo secret.txt >"$T/ignored/.dockerignore"
bad ignored 2 "secret\.txt"

df nobase <<'DF'
FROM e2e/busybox:1 AS ok
RUN echo ok
FROM local:e2e/no-such-image:1
RUN echo never
DF
bad nobase 3 "e2e/no-such-image"

df noregistry <<'DF'
FROM 127.0.0.1:1/nothing/here:1
DF
bad noregistry 1 "127\.0\.0\.1:1"

df nostage <<'DF'
FROM e2e/busybox:1
COPY --from=local:e2e/no-such-stage:1 /x /x
DF
bad nostage 2 "no-such-stage"

df exit3 <<'DF'
FROM e2e/busybox:1
RUN echo "a fine step"
RUN echo "about to fail" && exit 3
RUN echo "never runs"
DF
bad exit3 3 "exit code 3"
grep -q 'about to fail' "$T/exit3.err" || fail "the failing RUN's output was not shown"
grep -q 'never runs' "$T/exit3.err" && fail "a step after the failing RUN ran"

df exitstage <<'DF'
FROM e2e/busybox:1 AS builder
RUN exit 42
FROM e2e/busybox:1
COPY --from=builder /etc/mark /mark
DF
bad exitstage 2 "exit code 42"

df execform <<'DF'
FROM e2e/busybox:1
RUN ["/no/such/program", "arg"]
DF
bad execform 2 "no/such/program|exit code|exec"

df secret <<'DF'
FROM e2e/busybox:1
RUN --mount=type=secret,id=token,required=true cat /run/secrets/token
DF
bad secret 2 "secret 'token' is required"
# given, the same Dockerfile builds, and the secret is not in the image
printf 's3cr3t-value\n' >"$T/token.txt"
hoist build --secret id=token,src="$T/token.txt" -t e2e/secret-ok:1 "$T/secret" >"$T/secret-ok.out" 2>"$T/secret-ok.err" ||
	fail "build with the secret failed: $(cat "$T/secret-ok.err")"
grep -q 's3cr3t-value' "$T/secret-ok.err" || fail "the RUN did not see the secret"
hoist export e2e/secret-ok:1 - | tar -xOf - 2>/dev/null | grep s3cr3t-value >/dev/null && fail "the secret is in the image"

df checksum <<'DF'
FROM e2e/busybox:1
ARG URL
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 ${URL} /remote.txt
DF
mkdir -p "$T/www"
echo remote >"$T/www/remote.txt"
PORT=$(free_port)
bg python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PORT"
for i in $(seq 1 100); do
	curl -fs -o /dev/null "http://127.0.0.1:$PORT/remote.txt" && break
	[ "$i" -lt 100 ] || fail "http.server did not start"
	sleep 0.1
done
bad checksum 3 "checksum|digest|sha256" --build-arg URL="http://127.0.0.1:$PORT/remote.txt"

df badarg <<'DF'
ARG BASE
FROM ${BASE:?BASE-is-required}
DF
bad badarg 2 "BASE-is-required"

df emptybase <<'DF'
ARG BASE
FROM ${BASE}
DF
bad emptybase 2 "empty|invalid"

say "bad command lines"
mkdir -p "$T/good"
printf 'FROM e2e/busybox:1\nRUN echo good > /good\n' >"$T/good/Dockerfile"
expect_fail "frobnicate|unrecognized|unknown" hoist build --frobnicate -t e2e/bad-cli:1 "$T/good"
expect_fail "secret" hoist build --secret id=x,src="$T/does-not-exist" -t e2e/bad-cli:1 "$T/good"
expect_fail "progress" hoist build --progress loud -t e2e/bad-cli:1 "$T/good"
expect_fail "target stage 'nosuch'" hoist build --target nosuch -t e2e/bad-cli:1 "$T/good"
expect_fail "no-such-dir|No such file|context" hoist build -t e2e/bad-cli:1 "$T/no-such-dir"
expect_fail "nope\.Dockerfile|No such file" hoist build -f "$T/good/nope.Dockerfile" -t e2e/bad-cli:1 "$T/good"
hoist digest local:e2e/bad-cli:1 >/dev/null 2>&1 && fail "a bad command line left an image"

say "a failed build keeps the image an earlier build left under the tag"
good=$(hoist build -q -t e2e/keep:1 "$T/good")
[ -n "$good" ] || fail "the good build printed no digest"
printf 'FROM e2e/busybox:1\nRUN echo newer > /good && exit 5\n' >"$T/good/Dockerfile"
expect_fail "Dockerfile:2: .*exit code 5" hoist build -t e2e/keep:1 "$T/good"
assert_eq "$(hoist digest e2e/keep:1)" "$good" "the tag after a failed rebuild"
assert_eq "$(hoist run e2e/keep:1 cat /good)" good "the old image still runs"

say "no leftovers in the store's work space"
left=$(find "$HOIST_HOME/tmp" -mindepth 1 -maxdepth 1 2>/dev/null | head -5)
[ -z "$left" ] || fail "failed builds left temporary files: $left"
echo "all good"
