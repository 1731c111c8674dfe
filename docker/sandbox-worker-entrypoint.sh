#!/bin/sh
# The containerised sandbox worker drives the host's Docker engine, which resolves bind-mount
# sources on the HOST: the Node binary and the exec agent it mounts into sandboxes must exist at
# the same path on the host and here. PADDOCK_WORKER_SHARED_DIR is that host directory, mounted at
# the same path; this fills it, then runs the worker.
set -eu
shared="${PADDOCK_WORKER_SHARED_DIR:-/var/lib/paddock-worker}"
if ! mkdir -p "$shared/node_modules/node/bin" "$shared/tmp/paddock-sandbox-runtime" 2>/dev/null || [ ! -w "$shared" ]; then
  echo "sandbox-worker: $shared must be a writable host directory mounted at the same path" >&2
  exit 1
fi
# Copy only when changed (several workers may share a node's directory).
node_pkg="$shared/node_modules/node"
if ! cmp -s /usr/local/bin/node "$node_pkg/bin/node"; then
  cp /usr/local/bin/node "$node_pkg/bin/node.$$" && mv -f "$node_pkg/bin/node.$$" "$node_pkg/bin/node"
fi
printf '{"name":"node","version":"%s"}\n' "$(node -p process.versions.node)" > "$node_pkg/package.json"
# The worker resolves the `node` package; the image has none (it is a dev dependency), so this one is found.
export NODE_PATH="$shared/node_modules"
# The exec agent, laid out as prepareAgentRuntime() would build it (same content hash), with the
# launcher compiled at image build: the worker then needs no compiler.
agent_src=/app/services/sandbox-worker/agent
# The hash is prepareAgentRuntime()'s: sha256 of "agent.mjs", agent.ts and sandbox-exec.c.
hash="$({ printf 'agent.mjs'; cat "$agent_src/agent.ts" "$agent_src/sandbox-exec.c"; } | sha256sum | cut -c1-16)"
runtime="$shared/tmp/paddock-sandbox-runtime/$hash"
if [ ! -x "$runtime/pdk-sandbox-exec" ]; then
  staging="$runtime.tmp-$$"
  mkdir -p "$staging"
  # Plain JavaScript, types stripped once (as prepareAgentRuntime() writes it).
  node --disable-warning=ExperimentalWarning -e 'const { stripTypeScriptTypes } = require("node:module");
    process.stdout.write(stripTypeScriptTypes(require("node:fs").readFileSync(process.argv[1], "utf8"), { mode: "strip" }));' \
    "$agent_src/agent.ts" > "$staging/agent.mjs"
  printf '{"type":"module"}\n' > "$staging/package.json"
  cp /opt/paddock/pdk-sandbox-exec "$staging/pdk-sandbox-exec"
  mv "$staging" "$runtime" 2>/dev/null || rm -rf "$staging"
fi
export TMPDIR="$shared/tmp"
exec "$@"
