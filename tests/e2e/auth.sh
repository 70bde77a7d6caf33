#!/usr/bin/env bash
# Registries that demand credentials, through the CLI: Basic auth
# (htpasswd) and the Bearer token flow (a token server), hoist login /
# logout, and no secret in any output, not even with --verbose.
. "$(dirname "$0")/../lib/common.sh"
have htpasswd || skip "htpasswd (apache2-utils) not installed"
have openssl || skip "openssl not installed"

make_layout "$T/src" v1 auth-test >/dev/null
want=$(hoist digest oci:$T/src:v1)
PASS='s3cret-Pa55'
B64=$(printf 'alice:%s' "$PASS" | base64)

say "a registry with htpasswd (Basic) auth"
htpasswd -Bbn alice "$PASS" >"$T/htpasswd"
start_registry basic "auth:
  htpasswd:
    realm: hoist-test
    path: $T/htpasswd"
R=$REG_basic
expect_fail "UNAUTHORIZED|401|log in" hoist cp oci:$T/src:v1 $R/app:v1
expect_fail "refused|UNAUTHORIZED|401" sh -c "printf 'wrong' | '$HOIST' login -u alice --password-stdin $R"
[ ! -s "$REGISTRY_AUTH_FILE" ] || ! grep alice "$REGISTRY_AUTH_FILE" >/dev/null || fail "a refused login was stored"
printf '%s' "$PASS" | hoist login -u alice --password-stdin $R >"$T/login.out" 2>&1
grep "Login Succeeded" "$T/login.out" >/dev/null || fail "login: $(cat "$T/login.out")"
assert_eq "$(stat -c %a "$REGISTRY_AUTH_FILE")" 600 "credentials file mode"
jq -e --arg r "$R" '.auths[$r].auth' "$REGISTRY_AUTH_FILE" >/dev/null
hoist -v cp oci:$T/src:v1 $R/app:v1 >"$T/cp.out" 2>&1 || fail "push with credentials: $(tail -5 "$T/cp.out")"
assert_eq "$(hoist digest $R/app:v1)" "$want" "digest in the Basic-auth registry"
hoist -v ls $R/app >>"$T/cp.out" 2>&1
for secret in "$PASS" "$B64"; do
	grep -F -- "$secret" "$T/cp.out" "$T/login.out" >/dev/null && fail "a secret appeared in the output"
done
grep -i "authorization: basic [a-z0-9]" "$T/cp.out" >/dev/null && fail "an Authorization header was logged"
hoist logout $R | grep "Removed" >/dev/null
jq -e --arg r "$R" '.auths[$r] == null' "$REGISTRY_AUTH_FILE" >/dev/null
expect_fail "UNAUTHORIZED|401|log in" hoist digest $R/app:v1

say "credentials from a docker config.json (DOCKER_CONFIG) and a credential helper"
mkdir -p "$T/docker"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$B64" >"$T/docker/config.json"
assert_eq "$(env -u REGISTRY_AUTH_FILE DOCKER_CONFIG="$T/docker" "$HOIST" digest $R/app:v1)" "$want" "DOCKER_CONFIG auth"
mkdir -p "$T/bin"
cat >"$T/bin/docker-credential-hoisttest" <<SH
#!/bin/sh
[ "\$1" = get ] || exit 1
read -r server
printf '{"ServerURL":"%s","Username":"alice","Secret":"%s"}' "\$server" '$PASS'
SH
chmod +x "$T/bin/docker-credential-hoisttest"
printf '{"credHelpers":{"%s":"hoisttest"}}' "$R" >"$T/docker/config.json"
assert_eq "$(env -u REGISTRY_AUTH_FILE PATH="$T/bin:$PATH" DOCKER_CONFIG="$T/docker" "$HOIST" digest $R/app:v1)" "$want" "credential helper"

say "a registry with token auth (Bearer) and a token server"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
	-days 2 -subj /CN=hoist-token 2>/dev/null
bg python3 "$SRCDIR/tests/lib/token_server.py" --key "$T/key.pem" --cert "$T/cert.pem" \
	--user "bob:$PASS" --port-file "$T/token.port" --log "$T/token.log"
for i in $(seq 100); do [ -s "$T/token.port" ] && break; sleep 0.1; done
[ -s "$T/token.port" ] || fail "token server did not start"
start_registry token "auth:
  token:
    realm: http://127.0.0.1:$(cat "$T/token.port")/token
    service: hoist-test
    issuer: hoist-test-issuer
    rootcertbundle: $T/cert.pem"
K=$REG_token
expect_fail "UNAUTHORIZED|DENIED|401|403|log in" hoist cp oci:$T/src:v1 $K/team/app:v1
printf '%s' "$PASS" | hoist login -u bob --password-stdin $K >/dev/null
hoist -v cp oci:$T/src:v1 $K/team/app:v1 >"$T/tok.out" 2>&1 || fail "push with a token: $(tail -5 "$T/tok.out")"
assert_eq "$(hoist digest $K/team/app:v1)" "$want" "digest in the token registry"
grep "scope=repository:team/app:pull,push" "$T/token.log" >/dev/null || fail "no pull,push token was asked for"
grep -F -- "$PASS" "$T/tok.out" >/dev/null && fail "the password appeared in the output"
grep -iE "bearer [a-z0-9_-]{20,}" "$T/tok.out" >/dev/null && fail "a token appeared in the output"

say "copy between two registries that both demand credentials"
printf '%s' "$PASS" | hoist login -u alice --password-stdin $R >/dev/null
hoist cp $K/team/app:v1 $R/from-token:v1
assert_eq "$(hoist digest $R/from-token:v1)" "$want" "token -> basic copy"
if have skopeo; then
	assert_eq "sha256:$(skopeo inspect --raw --tls-verify=false --authfile "$REGISTRY_AUTH_FILE" docker://$R/from-token:v1 | sha256sum | cut -d' ' -f1)" "$want" "skopeo reads it with hoist's auth file"
fi
echo "all good"
