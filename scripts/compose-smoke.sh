#!/usr/bin/env bash
# Compose smoke test of the whole cluster on this Docker host, without an image registry:
#   build the offline images, `config` valid, `up` with 3 guardian replicas, every container
#   healthy, guardian reviews answered by each of the 3 replicas, one scripted turn through the API
#   from `queued` to `turn.completed`, then `down -v` leaving no container, network or volume (nor
#   a sandbox, workspace volume, sandbox network or firewall rule the worker made on the host).
# A project name and loopback ports of its own, so it never touches another cluster. Every wait is
# bounded. Prints "compose-smoke: N passed, N failed" last; exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
project="paddock-smoke-$$"
health_timeout_s="${PADDOCK_SMOKE_HEALTH_TIMEOUT_S:-240}"
turn_timeout_s="${PADDOCK_SMOKE_TURN_TIMEOUT_S:-120}"
passed=0
failed=0
say() { echo "[compose-smoke] $*" >&2; }
pass() { passed=$((passed + 1)); say "PASS $*"; }
fail() { failed=$((failed + 1)); say "FAIL $*"; }

# Tools it needs; on a fresh Debian machine (CI) the missing ones are installed with apt-get.
# Compose v2 when the engine has it, else Debian's docker-compose 1.29.
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v ss >/dev/null || missing+=(iproute2)
command -v od >/dev/null || missing+=(coreutils)
command -v git >/dev/null || missing+=(git) # build-offline-images.sh lists the build context with it
if docker compose version >/dev/null 2>&1; then compose_cli=(docker compose); else
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  compose_cli=(docker-compose)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} with apt-get"
    apt_log="$(mktemp /tmp/compose-smoke-apt.XXXXXX)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; }; }; then
      tail -n 30 "$apt_log" >&2; say "apt-get install ${missing[*]} failed"; exit 1
    fi
    rm -f "$apt_log"
  else
    say "missing: ${missing[*]} (Debian packages; for compose also the docker compose plugin)"; exit 1
  fi
fi
# JSON is read with Node (the repository's Node 24 when installed; any Node parses JSON).
node_bin="$root/node_modules/.bin/node"
[ -x "$node_bin" ] || node_bin="$(command -v node)"
compose() { "${compose_cli[@]}" -p "$project" -f docker-compose.yml -f docker-compose.offline.yml "$@"; }

# Loopback ports nobody listens on.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Hltn "sport = :$p" | grep -q . && [[ " ${taken:-} " != *" $p "* ]]; then
      taken="${taken:-} $p"; echo "$p"; return
    fi
  done
  say "no free port found"; exit 1
}
export PADDOCK_IMAGE_TAG=local
export PADDOCK_REDIS_HOST_PORT="$(free_port)" PADDOCK_GUARDIAN_HOST_PORT="$(free_port)"
export PADDOCK_API_PORT="$(free_port)" PADDOCK_PROXY_PORT="$(free_port)"
export PADDOCK_WORKER_HEALTH_PORT="$(free_port)" PADDOCK_FAKE_MODEL_HOST_PORT="$(free_port)"
export PADDOCK_WORKER_INTERNAL_PORT="$(free_port)"
export PADDOCK_WORKER_SHARED_DIR="/tmp/$project/worker"
export PADDOCK_OPERATOR_KEY="smoke-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
# The Redis users' passwords, their ACL file and the guardian's service credential, made for this
# run as an operator makes them (scripts/generate-secrets.ts); removed with /tmp/$project.
export PADDOCK_SECRETS_DIR="/tmp/$project/secrets"
"$node_bin" scripts/generate-secrets.ts --out "$PADDOCK_SECRETS_DIR" >&2
set -a
# shellcheck disable=SC1091
. "$PADDOCK_SECRETS_DIR/secrets.env"
set +a

# Everything the worker makes on the host engine (sandboxes, workspace volumes, its sandbox
# network) carries this label too (PADDOCK_SANDBOX_SCOPE), and so does the smoke's one-off container:
# how the check after `down -v` finds them.
scope_label="paddock.smoke=$project"
export PADDOCK_SANDBOX_SCOPE="$scope_label"
sandbox_networks=""

# Our containers, networks and volumes (compose's and the worker's), one "kind id" a line.
ours() {
  local f
  for f in "label=com.docker.compose.project=$project" "label=$scope_label"; do
    docker ps -aq --filter "$f" | sed 's/^/container /'
    docker network ls -q --filter "$f" | sed 's/^/network /'
    docker volume ls -q --filter "$f" | sed 's/^/volume /'
  done 2>/dev/null | sort -u
}
# The host firewall rules of the worker's sandbox networks (comment "paddock-net:<network>").
our_rules() {
  local bin n
  for bin in iptables ip6tables; do
    command -v "$bin" >/dev/null || continue
    for n in $sandbox_networks; do
      "$bin" -w 5 -S INPUT 2>/dev/null | grep -E "paddock-net:$n(\"| |\$)" | sed "s/^/$bin /" || true
    done
  done
}

cleanup() {
  local code=$?
  [ "$code" -eq 0 ] || [ "$failed" -gt 0 ] || fail "stopped early (exit code $code: an error or a signal)"
  # The worker's network, named before `down` removes it, for the firewall check.
  sandbox_networks=$(printf '%s\n' $sandbox_networks $(docker network ls --filter "label=$scope_label" --format '{{.Name}}' 2>/dev/null || true) | sort -u)
  say "down -v"
  compose down -v --remove-orphans --timeout 30 >/dev/null 2>&1 || true
  local left rules
  left="$(ours)"
  rules="$(our_rules)"
  if [ -z "$left$rules" ]; then
    pass "down -v left no container, network, volume or firewall rule (compose's, nor the worker's sandboxes')"
  else
    fail "left behind after down -v:"
    printf '%s\n%s\n' "$left" "$rules" | grep . | sed 's/^/  /' >&2
    # Ours only (by label / network name): removed so that nothing stays on the host.
    echo "$left" | awk '$1 == "container" {print $2}' | xargs -r docker rm -f >/dev/null 2>&1 || true
    echo "$left" | awk '$1 == "volume" {print $2}' | xargs -r docker volume rm -f >/dev/null 2>&1 || true
    echo "$left" | awk '$1 == "network" {print $2}' | xargs -r docker network rm >/dev/null 2>&1 || true
    echo "$rules" | grep . | while read -r bin rule; do eval "$bin -w 5 -D ${rule#-A }" || true; done
    left="$(ours)$(our_rules)"
    [ -z "$left" ] || say "could not remove: $left"
  fi
  rm -rf "/tmp/$project"
  say "took $SECONDS s"
  echo "compose-smoke: $passed passed, $failed failed"
  if [ "$code" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
}
trap cleanup EXIT
trap 'exit 130' INT # interrupted: cleanup still runs, and counts it as a failure
trap 'exit 143' TERM

# 1. Images. The service images are rebuilt every run (PADDOCK_REBUILD=1; Docker's layer cache
#    makes an unchanged one take seconds), so the smoke tests the working tree, never a stale image.
[ "${PADDOCK_SMOKE_SKIP_BUILD:-0}" = 1 ] || PADDOCK_REBUILD="${PADDOCK_REBUILD:-1}" bash scripts/build-offline-images.sh
# The sandbox image turns run in: named and built (when absent) by the worker image's own code, as
# the compose worker does at start (a content hash of sandbox-images/base over PADDOCK_SANDBOX_BASE,
# which docker-compose.offline.yml sets to the local Debian image). Done here so the worker starts
# without building it and the smoke knows the tag its environment names.
sandbox_image=$(docker run --rm --label "$scope_label" --network none --user 0:0 \
  -v /var/run/docker.sock:/var/run/docker.sock -e PADDOCK_SANDBOX_BASE=paddock/debian:bookworm-local \
  --entrypoint node "paddock/sandbox-worker:$PADDOCK_IMAGE_TAG" --input-type=module -e "
    const { ensureSandboxImage } = await import('/app/packages/platform/src/images.ts');
    const { default: Docker } = await import('dockerode');
    console.log(await ensureSandboxImage(new Docker(), 'base', (line) => console.error(line)));") \
  || { fail "the sandbox image could not be built"; exit 1; }
say "sandbox image: $sandbox_image"

# 2. The compose files as compose reads them.
if compose config -q; then pass "${compose_cli[*]} config"; else fail "${compose_cli[*]} config"; exit 1; fi

# 3. Up, 3 guardian replicas, every container healthy.
say "up (project $project)"
compose up -d --scale guardian=3 >&2
deadline=$((SECONDS + health_timeout_s))
while :; do
  ids=$(compose ps -q)
  states=$(for id in $ids; do docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id"; done)
  not_ready=$(echo "$states" | awk '$2 != "running" || ($3 != "healthy" && $3 != "none")')
  if [ -n "$ids" ] && [ -z "$not_ready" ]; then break; fi
  if echo "$states" | awk '$2 == "exited" || $3 == "unhealthy"' | grep -q . || [ $SECONDS -ge $deadline ]; then
    fail "not every service became healthy:"
    echo "$states" >&2
    compose logs --tail 40 >&2 || true
    exit 1
  fi
  sleep 3
done
count=$(echo "$states" | wc -l)
pass "all $count containers running and healthy"
echo "$states" | sed 's/^/  /' >&2
sandbox_networks=$(docker network ls --filter "label=$scope_label" --format '{{.Name}}')

# 4. Reviews through guardian-lb: each of the 3 replicas must answer one.
replica_ips=$(for id in $(compose ps -q guardian); do
  docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id"; done | sort -u)
answered=""
bad=0
for i in $(seq 1 9); do
  body=$(printf '{"review_id":"smoke-%s-%s","tenant":"smoke","thread_id":"thr-smoke","action":{"type":"exec","argv":["ls","-la"],"cwd":"/workspace"},"transcript":[{"role":"user","content":"list the files"}],"policy_context":{"sandbox_mode":"workspace-write","approval_policy":"on-request"},"deadline_ms":10000}' "$$" "$i")
  headers=$(mktemp)
  verdict=$(curl -sS --max-time 15 -D "$headers" -H 'content-type: application/json' \
    -H "authorization: Bearer $PADDOCK_GUARDIAN_SERVICE_TOKEN" -d "$body" \
    "http://127.0.0.1:$PADDOCK_GUARDIAN_HOST_PORT/v1/reviews" || true)
  # HAProxy names the replica as address:port; the replicas are told apart by address.
  replica=$(grep -i '^x-paddock-guardian-replica:' "$headers" | tr -d '\r' | awk '{print $2}' | cut -d: -f1)
  rm -f "$headers"
  if ! echo "$verdict" | grep -q '"outcome":"approved"'; then bad=$((bad + 1)); say "review $i via ${replica:-?}: $verdict"; fi
  answered="$answered $replica"
done
answered_set=$(echo "$answered" | tr ' ' '\n' | grep . | sort -u)
if [ "$(echo "$replica_ips" | wc -l)" -eq 3 ] && [ "$answered_set" = "$replica_ips" ] && [ "$bad" -eq 0 ]; then
  pass "9 reviews approved, answered by each of the 3 replicas: $(echo $answered_set)"
else
  fail "reviews: replicas $(echo $replica_ips) answered by $(echo $answered_set); $bad not approved"
fi

# 4b. No credential, no service: Redis refuses a client without a user, the guardian a caller
#     without the service credential (the body is a valid review; it is never reviewed).
anonymous=$(compose exec -T redis redis-cli ping 2>&1 || true)
if echo "$anonymous" | grep -q NOAUTH; then pass "Redis without credentials refused: $anonymous"; else
  fail "Redis answered a client without credentials: $anonymous"; fi
no_credential=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 15 -H 'content-type: application/json' -d "$body" \
  "http://127.0.0.1:$PADDOCK_GUARDIAN_HOST_PORT/v1/reviews" || true)
if [ "$no_credential" = 401 ]; then pass "guardian without the service credential refused: 401"; else
  fail "guardian answered $no_credential to a caller without the service credential"; fi

# 5. One scripted turn through the API: a workspace (operator key), an environment on the sandbox
#    image, a thread, then a turn of two commands; it must be accepted as `queued` and its events
#    must reach `turn.completed` with each command's output in an item event. The second command
#    asks for a host the thread's allowlist does not name: the containerised proxy (listening on the
#    worker's sandbox network, found in Redis) must refuse it with its reason header at once
#    (`approval_policy = "never"`: nobody is asked). The name
#    resolves nowhere, so nothing could leave even if it were let through.
api_url="http://127.0.0.1:$PADDOCK_API_PORT"
http_dir="/tmp/$project/http"
mkdir -p "$http_dir"
# api METHOD PATH TOKEN [JSON]: sets $status (HTTP code, 000 when none) and $body.
api() {
  local args=(-sS --max-time 15 -o "$http_dir/body" -w '%{http_code}' -X "$1" -H "authorization: Bearer $3")
  if [ $# -ge 4 ]; then args+=(-H 'content-type: application/json' --data-binary "$4"); fi
  : > "$http_dir/body"
  status=$(curl "${args[@]}" "$api_url$2" 2>/dev/null || true)
  body=$(cat "$http_dir/body")
}
# jget JSON a.b.c: the field as text ("" when absent).
jget() {
  "$node_bin" -e 'let v = JSON.parse(process.argv[1]); for (const k of process.argv[2].split(".")) v = v?.[k];
    process.stdout.write(v === undefined || v === null ? "" : String(v));' "$1" "$2" 2>/dev/null || true
}
# turn_state TURN MARKER REFUSAL < JSONL: "<turn.completed|turn.failed|running> <output-seen|no-output>
#   <refusal-seen|no-refusal>": the echo's output, and the proxy's refusal as curl printed it.
turn_state() {
  "$node_bin" -e '
    const [turn, marker, refusal] = process.argv.slice(1);
    const events = require("node:fs").readFileSync(0, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)).map((e) => e.data ?? e);
    const end = events.find((e) => (e.type === "turn.completed" || e.type === "turn.failed") && e.turn_id === turn);
    const output = (text) => events.some((e) => e.type === "item.completed" && e.turn_id === turn &&
      e.item?.type === "command_execution" && e.item.exit_code === 0 && e.item.aggregated_output === text);
    console.log(`${end?.type ?? "running"} ${output(`${marker}\n`) ? "output-seen" : "no-output"} ${output(refusal) ? "refusal-seen" : "no-refusal"}`);' \
    "$1" "$2" "$3" 2>/dev/null || echo "unreadable no-output no-refusal"
}
# files_round_trip THREAD TOKEN: PUT one file through the API (orchestrator -> the worker's internal
# endpoint on the host gateway, service credential -> the workspace) and GET it back byte for byte.
files_round_trip() {
  local sent="$http_dir/sent" got="$http_dir/got" put_status get_status
  head -c 65536 /dev/urandom > "$sent"
  put_status=$(curl -sS --max-time 30 -o "$http_dir/body" -w '%{http_code}' -X PUT -H "authorization: Bearer $2" \
    -H 'content-type: application/octet-stream' --data-binary "@$sent" "$api_url/v1/threads/$1/files/smoke-data.bin" 2>/dev/null || true)
  get_status=$(curl -sS --max-time 30 -o "$got" -w '%{http_code}' -H "authorization: Bearer $2" \
    "$api_url/v1/threads/$1/files/smoke-data.bin" 2>/dev/null || true)
  if [ "$put_status" = 201 ] && [ "$get_status" = 200 ] && cmp -s "$sent" "$got"; then
    pass "files API: PUT then GET of a 64 KiB file through the orchestrator and the worker's internal endpoint, same bytes"
  else
    fail "files API: PUT $put_status ($(head -c 300 "$http_dir/body")), GET $get_status, bytes $(cmp -s "$sent" "$got" && echo same || echo differ)"
  fi
}
# close_thread THREAD TOKEN: DELETE the thread; its kept workspace volume must go, as a user closing
# it expects (a worker's stop keeps workspaces, so `down -v` alone would leave them; the check after
# `down -v` then finds nothing of ours).
close_thread() {
  local before gone="" started=$SECONDS
  before=$(docker volume ls -q --filter "label=$scope_label" 2>/dev/null | sort)
  api DELETE "/v1/threads/$1" "$2"
  if [ "${status:0:1}" != 2 ]; then fail "DELETE thread: $status $body"; return; fi
  while [ $((SECONDS - started)) -lt 60 ]; do
    gone=$(comm -23 <(echo "$before") <(docker volume ls -q --filter "label=$scope_label" 2>/dev/null | sort) | grep . || true)
    [ -z "$gone" ] || break
    sleep 2
  done
  if [ -n "$gone" ]; then pass "thread closed ($status): its workspace volume $(echo $gone) removed"; else
    fail "thread closed ($status) but no workspace volume went within 60 s"; fi
}
scripted_turn() {
  local token env_id thread_id turn_id marker state events="" started
  marker="smoke-output-$$-$RANDOM"
  api POST /v1/workspaces "$PADDOCK_OPERATOR_KEY" '{"name":"smoke","owner_email":"owner@smoke.test"}'
  token=$(jget "$body" owner_token.secret)
  if [ "$status" != 201 ] || [ -z "$token" ]; then fail "workspace: $status $body"; return; fi
  api POST /v1/environments "$token" "{\"name\":\"smoke\",\"image\":\"$sandbox_image\"}"
  env_id=$(jget "$body" id)
  if [ "$status" != 201 ] || [ -z "$env_id" ]; then fail "environment: $status $body"; return; fi
  api POST /v1/threads "$token" "{\"environment_id\":\"$env_id\",\"config\":{\"approval_policy\":\"never\",\"network\":{\"mode\":\"allowlist\",\"allowed_domains\":[\"allowed.smoke.test\"]}}}"
  thread_id=$(jget "$body" id)
  if [ "$status" != 201 ] || [ -z "$thread_id" ]; then fail "thread: $status $body"; return; fi
  local fetch='["curl","-sS","-o","/dev/null","-w","%{http_code} %header{x-paddock-reason}","http://blocked.smoke.test/"]'
  api POST "/v1/threads/$thread_id/turns" "$token" "{\"commands\":[{\"argv\":[\"echo\",\"$marker\"]},{\"argv\":$fetch}]}"
  turn_id=$(jget "$body" id)
  if [ "$status" = 202 ] && [ "$(jget "$body" status)" = queued ] && [ -n "$turn_id" ]; then
    pass "turn $turn_id accepted: 202, status queued (thread $thread_id, environment on $sandbox_image)"
  else
    fail "turn not queued: $status $body"; return
  fi
  started=$SECONDS
  state="running no-output no-refusal"
  local refusal="403 blocked-by-allowlist"
  while [ $((SECONDS - started)) -lt "$turn_timeout_s" ]; do
    api GET "/v1/threads/$thread_id/events?format=jsonl" "$token"
    if [ "$status" = 200 ]; then
      events="$body"
      state=$(turn_state "$turn_id" "$marker" "$refusal" <<< "$events")
      [ "${state%% *}" = running ] || break
    fi
    sleep 2
  done
  if [ "${state%% *}" = turn.completed ]; then
    pass "turn reached turn.completed in $((SECONDS - started)) s (GET /v1/threads/{id}/events)"
  else
    fail "turn ended as '${state%% *}' after $((SECONDS - started)) s (bound ${turn_timeout_s} s)"
  fi
  local outputs="${state#* }"
  if [ "${outputs%% *}" = output-seen ]; then
    pass "the command's output '$marker' is in its item.completed event (exit code 0)"
  else
    fail "no item.completed event with the command's output '$marker'"
  fi
  if [ "${outputs#* }" = refusal-seen ]; then
    pass "a host outside the thread's allowlist: the proxy answered '$refusal' inside the sandbox"
  else
    fail "no item.completed event with the proxy's refusal '$refusal'"
  fi
  files_round_trip "$thread_id" "$token"
  close_thread "$thread_id" "$token"
  if [ "$state" != "turn.completed output-seen refusal-seen" ]; then
    say "events of the thread:"; echo "$events" | tail -n 20 | cut -c1-400 >&2
    compose logs --tail 40 sandbox-worker orchestrator >&2 || true
  fi
}
scripted_turn
