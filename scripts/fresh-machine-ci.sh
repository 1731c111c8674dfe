#!/usr/bin/env bash
# Runs .ci/run on a clean clone of HEAD inside a fresh Debian container that has only Node 20 and
# npm (no Docker, no Redis): the closest this machine gets to CI's fresh machine. The container runs
# its own nested dockerd (docs/design.md says why these flags). Everything it creates is
# labelled and removed at the end. Usage: scripts/fresh-machine-ci.sh [LOG_FILE]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
log="${1:-/tmp/paddock-fresh-ci.log}"
name="paddock-fresh-ci-$$"
label="paddock.test=$name"
clone="$(mktemp -d /tmp/paddock-fresh-clone.XXXXXX)"
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm "$name-docker" >/dev/null 2>&1 || true
  rm -rf "$clone"
}
trap cleanup EXIT

git clone -q "$repo" "$clone/main"
# PADDOCK_FRESH_PREPARE: a command run in the clone before the test (to try a change without committing).
[ -n "${PADDOCK_FRESH_PREPARE:-}" ] && (cd "$clone/main" && eval "$PADDOCK_FRESH_PREPARE")
[ -d "$repo/../shared" ] && cp -r "$repo/../shared" "$clone/shared"
base="${PADDOCK_SANDBOX_BASE:-paddock/debian:bookworm-local}"
docker image inspect "$base" >/dev/null 2>&1 || bash "$repo/sandbox-images/build-local-base.sh" "$base"
docker volume create --label "$label" "$name-docker" >/dev/null

node_bin="$(command -v node)"
# This workplace reaches registries through a TLS-inspecting proxy: the fresh machine gets the same
# CA bundle and npm settings as this one (CI's machine has them too).
ca_mounts=""
for f in /root/.npmrc /usr/local/etc/npmrc; do
  [ -f "$f" ] && ca_mounts="$ca_mounts -v $f:$f:ro"
done
# kubectl (with kustomize) ships with this machine image, not with Debian: the fresh machine gets it too.
if [ -d /usr/lib/google-cloud-sdk ]; then ca_mounts="$ca_mounts -v /usr/lib/google-cloud-sdk:/usr/lib/google-cloud-sdk:ro"; fi
ca_env=""
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE CURL_CA_BUNDLE; do
  [ -n "${!v:-}" ] && ca_env="$ca_env -e $v=${!v}"
done
npm_dir="$(dirname "$(readlink -f "$(command -v npm)")")/.."
docker run -d --name "$name" --label "$label" \
  --cap-add ALL --cap-drop SYS_RESOURCE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  -v "$name-docker:/var/lib/docker" \
  -v "$clone:/work" \
  -v "$node_bin:/usr/local/bin/node:ro" \
  -v "$(readlink -f "$npm_dir"):/usr/local/lib/node_modules/npm:ro" \
  $ca_mounts \
  "$base" sleep infinity >/dev/null
# The CA bundle as this machine has it, installed the Debian way (a regular file plus a copy in
# /usr/local/share/ca-certificates): a read-only mount over it breaks any package that rebuilds it
# (ca-certificates, pulled in by docker-compose), and a rebuild keeps the local CA.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  docker exec "$name" mkdir -p /etc/ssl/certs /usr/local/share/ca-certificates
  docker cp -L /etc/ssl/certs/ca-certificates.crt "$name:/usr/local/share/ca-certificates/host-bundle.crt" >/dev/null
  docker cp -L /etc/ssl/certs/ca-certificates.crt "$name:/etc/ssl/certs/ca-certificates.crt" >/dev/null
fi
docker exec "$name" ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
docker exec "$name" ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
docker exec "$name" sh -c '[ -d /usr/lib/google-cloud-sdk ] && ln -s /usr/lib/google-cloud-sdk/bin/kubectl /usr/bin/kubectl || true'

echo "fresh-machine CI: node $(docker exec "$name" node --version), log in $log"
set +e
docker exec -e CI=true $ca_env -w /work/main "$name" bash -c 'bash .ci/run' >"$log" 2>&1
code=$?
set -e
tail -n 25 "$log"
echo "fresh-machine CI exit code: $code"
exit "$code"
