#!/usr/bin/env bash
# The container image, built and run here as an operator would (make test-image):
# deploy/Dockerfile built with podman (Debian's), then run with a read-only root filesystem,
# the key file from a mounted secret owned by the image's user, and a data volume. Checks
# that it serves, runs as uid 10001, cannot write its root filesystem, passes its own
# HEALTHCHECK, seals and reveals a seed with the mounted key, logs no secret, stops cleanly
# on SIGTERM, and refuses a key file others can read.
#
# Two substitutions, because no container registry is reachable here: debian:bookworm-slim
# is made once with debootstrap from Debian's mirror and imported into podman, and the
# Dockerfile's build stage (rust:1-bookworm and a release build in it) is replaced by the
# binary this run built (`--build-context build=…`). The runtime stage is the Dockerfile's own.
# Needs root (podman with runc, and a key file owned by uid 10001); make test-image uses sudo
# when it is not root.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${KW_BIN:-target/debug/keyward}
# kw built as the Dockerfile builds it (static), in debug here: make test-image builds it.
KW_STATIC=${KW_STATIC:-target/x86_64-unknown-linux-gnu/debug/kw}
IMAGE=localhost/keyward:test
BASE=docker.io/library/debian:bookworm-slim
NAME=kw-image-test
SEED=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
# runc: crun cannot start containers on this kind of host (cgroups v1 with hybrid mounts).
podman() { command podman --runtime runc "$@"; }
work=$(mktemp -d)
cleanup() {
  podman rm -f -t 0 "$NAME" "$NAME-bad" >/dev/null 2>&1 || true
  podman rmi -f localhost/kw-alone:test >/dev/null 2>&1 || true
  podman volume rm -f "$NAME-data" >/dev/null 2>&1 || true
  # the previous build of the test image, untagged by this one
  podman image prune -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "not ok - $*" >&2; podman logs "$NAME" 2>/dev/null | tail -20 >&2 || true; exit 1; }
pass() { echo "ok - $*"; }

if ! podman image exists "$BASE"; then
  echo "making $BASE with debootstrap (once per machine)…"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$work/rootfs" -c . | podman import -q - "$BASE" >/dev/null
  rm -rf "$work/rootfs"
fi
mkdir -p "$work/ctx/src/target/release" "$work/ctx/src/target/static"
cp "$BIN" "$work/ctx/src/target/release/keyward"
cp "$KW_STATIC" "$work/ctx/src/target/static/kw"
podman build -q --format docker --network host --build-context build="$work/ctx" \
  -f deploy/Dockerfile -t "$IMAGE" . >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; fail "the image builds"; }
pass "deploy/Dockerfile builds"
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] || fail "the image's user is 10001"
grep -q 'keyward health' <<<"$(podman image inspect --format '{{.Config.Healthcheck.Test}}' "$IMAGE")" ||
  fail "the image has a HEALTHCHECK running keyward health"
pass "the image runs as 10001:10001 and checks its health with keyward health"

# The key file, readable by the image's user alone.
"$BIN" keys init --key-file "$work/keys.json" >/dev/null
chown 10001:10001 "$work/keys.json"
chmod 0400 "$work/keys.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
run_args=(--network host --read-only --tmpfs /tmp
  # the host's limits: a container may not raise them
  --ulimit nofile=20000:20000 --ulimit nproc=4096:4096
  # no systemd here for podman's periodic health timer; `podman healthcheck run` checks it
  --health-interval disable
  -e KEYWARD_LISTEN="127.0.0.1:$port"
  -e 'KEYWARD_DATABASE_URL=sqlite:///var/lib/keyward/keyward.db?mode=rwc')
podman run -d --name "$NAME" "${run_args[@]}" -v "$NAME-data:/var/lib/keyward" \
  -v "$work/keys.json:/run/secrets/keyward-keys.json:ro" "$IMAGE" >/dev/null 2>"$work/run.log" ||
  { cat "$work/run.log" >&2; fail "the container starts"; }
for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.2; done
curl -fs "$base/readyz" >/dev/null || fail "the container serves /readyz"
pass "the container serves /readyz"
[ "$(podman exec "$NAME" awk '/^Uid:/ {print $2}' /proc/1/status)" = 10001 ] || fail "keyward runs as uid 10001"
pass "keyward runs as uid 10001"
written=$(podman exec "$NAME" sh -c 'touch /usr/local/bin/x' 2>&1 || true)
grep -q 'Read-only file system' <<<"$written" || fail "the root filesystem is read-only"
podman exec "$NAME" sh -c 'test -w /var/lib/keyward' || fail "the data volume is writable"
pass "the root filesystem is read-only; /var/lib/keyward is writable"
podman healthcheck run "$NAME" >/dev/null 2>&1 || fail "the HEALTHCHECK passes"
pass "the HEALTHCHECK passes"

# Seal a seed with the mounted key and reveal its code through the API.
token=$(podman exec "$NAME" keyward token create --name image --role manager --team marketing | tail -1 | tr -d '[:space:]')
api() { curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
account=$(api -d '{"team":"marketing","platform":"x","handle":"@image"}' "$base/api/v1/accounts" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
api -X PUT -d "{\"secret\":\"$SEED\"}" "$base/api/v1/accounts/$account/totp" >/dev/null || fail "a seed is stored"
code=$(api -d '{}' "$base/api/v1/accounts/$account/totp/code" | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
[[ "$code" =~ ^[0-9]{6}$ ]] || fail "a code is revealed"
pass "a seed sealed with the mounted key reveals its code"
if grep -q -e "$SEED" -e "$token" <<<"$(podman logs "$NAME" 2>&1)"; then fail "the logs hold no seed and no token"; fi

# kw, the members' client, is in the image, static: it runs in an image holding nothing else,
# and reaches the server (an unknown token: exit 3, not signed in).
one_off=(--rm --network host --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --health-interval disable)
podman run "${one_off[@]}" --entrypoint kw "$IMAGE" --version | grep -q '^kw ' || fail "the image carries kw"
if ldd "$KW_STATIC" 2>&1 | grep -q '=>'; then fail "kw is linked statically"; fi
mkdir "$work/alone" && cp "$KW_STATIC" "$work/alone/kw"
tar -C "$work/alone" -c kw | podman import -q - localhost/kw-alone:test >/dev/null
podman run "${one_off[@]}" --entrypoint /kw localhost/kw-alone:test --version | grep -q '^kw ' ||
  fail "kw runs in an image with no libc"
set +e
podman run "${one_off[@]}" -e KW_SERVER="$base" -e KW_TOKEN=kwcli_unknown \
  --entrypoint /kw localhost/kw-alone:test whoami >/dev/null 2>&1
status=$?
set -e
[ "$status" = 3 ] || fail "kw alone reaches the server and is told it is not signed in (exit $status)"
pass "the image carries kw, static: it runs alone in an empty image and reaches the server"
pass "the logs hold no seed and no token"

podman stop -t 30 "$NAME" >/dev/null 2>&1
[ "$(podman inspect --format '{{.State.ExitCode}}' "$NAME")" = 0 ] || fail "SIGTERM stops it with exit code 0"
pass "SIGTERM drains and stops it with exit code 0"

# A key file others can read is refused, naming the problem; nothing is served.
chmod 0444 "$work/keys.json"
if podman run --name "$NAME-bad" "${run_args[@]}" -v "$work/keys.json:/run/secrets/keyward-keys.json:ro" \
  "$IMAGE" >"$work/bad.log" 2>&1; then fail "a key file others can read is refused"; fi
grep -qi "key" "$work/bad.log" || { cat "$work/bad.log" >&2; fail "the refusal names the key file"; }
pass "a key file others can read is refused: $(grep -i key "$work/bad.log" | tail -1 | cut -c1-160)"
