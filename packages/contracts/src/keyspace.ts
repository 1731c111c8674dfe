// The one Redis keyspace: every key and channel two parts of Paddock share (tenancy, threads, turns,
// events, the fair scheduler, sandboxes, egress), spelled once here. The Lua scripts get their key
// helpers generated from these same functions (luaKeyFunction), so no script spells a key by hand.

/** Every Paddock key starts with this; BullMQ's own keys live under `bull:` (TURN_QUEUE_PREFIX). */
export const KEY_PREFIX = 'paddock';
const P = KEY_PREFIX;

// ---- tenancy, threads, turns, events, approvals, the scheduler

export const TURN_QUEUE = 'paddock-turns';
/** BullMQ prefix of the turn queue (its keys live under `bull:paddock-turns:*`). */
export const TURN_QUEUE_PREFIX = 'bull';

export const keys = {
  workspace: (ws: string) => `${P}:ws:${ws}`,
  workspaces: () => `${P}:workspaces`,
  members: (ws: string) => `${P}:ws:${ws}:members`,
  requirements: (ws: string) => `${P}:ws:${ws}:requirements`,
  workspaceTokens: (ws: string) => `${P}:ws:${ws}:tokens`,
  audit: (ws: string) => `${P}:ws:${ws}:audit`,
  token: (id: string) => `${P}:token:${id}`,
  environment: (id: string) => `${P}:env:${id}`,
  workspaceEnvironments: (ws: string) => `${P}:ws:${ws}:envs`,
  thread: (id: string) => `${P}:thread:${id}`,
  workspaceThreads: (ws: string) => `${P}:ws:${ws}:threads`,
  /** Turn ids of a thread, scored by their sequence number. */
  threadTurns: (thr: string) => `${P}:thread:${thr}:turns`,
  /** Turn ids accepted but not yet dispatched, oldest first. */
  threadPending: (thr: string) => `${P}:thread:${thr}:pending`,
  /** The one turn of the thread that is dispatched or running (the thread's lock). */
  threadActive: (thr: string) => `${P}:thread:${thr}:active`,
  threadSeq: (thr: string) => `${P}:thread:${thr}:seq`,
  /** The thread's event stream (XADD by the worker, served as SSE/JSONL by the orchestrator). */
  events: (thr: string) => `${P}:thread:${thr}:events`,
  /** Bytes of command output written to the thread's events so far (held to the thread's output cap). */
  threadOutputBytes: (thr: string) => `${P}:thread:${thr}:output-bytes`,
  /**
   * Hash of the thread's workspace diffs, stored by the worker at each turn end (GET .../diff reads
   * it even when the worker is gone): `base` (against the base commit), `turn:<id>` (against that
   * turn's start, for the last few turns), `turns` (those ids, JSON). Each value JSON {diff, truncated}.
   */
  threadDiffs: (thr: string) => `${P}:thread:${thr}:diffs`,
  approvals: (thr: string) => `${P}:thread:${thr}:approvals`,
  approval: (id: string) => `${P}:approval:${id}`,
  /** The decision of one approval request, pushed once; the worker BLPOPs it. */
  approvalDecision: (id: string) => `${P}:approval:${id}:decision`,
  /** Set once (NX) by whoever decides the approval first. */
  approvalDecided: (id: string) => `${P}:approval:${id}:decided`,
  /** Action fingerprints a person approved for the rest of the thread. */
  approvedForThread: (thr: string) => `${P}:thread:${thr}:approved-actions`,
  denials: (thr: string) => `${P}:thread:${thr}:denials`,
  /** fingerprint -> denial id: one user-approved retry of exactly that action. */
  overrides: (thr: string) => `${P}:thread:${thr}:overrides`,
  turn: (id: string) => `${P}:turn:${id}`,
  /** Hash: id of each command of the turn, set (HSETNX) before it runs, so none runs twice. */
  turnCommands: (id: string) => `${P}:turn:${id}:commands`,
  /** Hash: an agent turn's checkpoint (model steps taken, tokens used), written with each conversation save; a resumed attempt starts from it. */
  turnCheckpoint: (id: string) => `${P}:turn:${id}:checkpoint`,
  /** JSON list of the agent conversation of the thread (messages the model sees). */
  conversation: (thr: string) => `${P}:thread:${thr}:conversation`,
  idempotency: (thr: string, keyHash: string) => `${P}:thread:${thr}:idem:${keyHash}`,
  /** @fastify/rate-limit's namespace: counters `tok:<id>`, `ws:<id>`, `ip:<address>` under it. */
  rateNamespace: () => `${P}:rate:`,
  /** Webhooks: configured per workspace (secrets sealed), delivered by the orchestrator from the outbox. */
  webhooks: {
    /** Hash: webhook id -> its record (JSON, the signing secret sealed with the operator's key). */
    ofWorkspace: (ws: string) => `${P}:ws:${ws}:webhooks`,
    /** Stream every producer XADDs events to (worker, proxy, orchestrator); one consumer group. */
    outbox: () => `${P}:webhooks:outbox`,
    /** One delivery (an event to one webhook): its attempts and outcome (JSON). */
    delivery: (id: string) => `${P}:webhooks:delivery:${id}`,
    /** The webhook's delivery ids, newest first (capped: the delivery log). */
    deliveries: (hookId: string) => `${P}:webhooks:hook:${hookId}:deliveries`,
    /** Sorted set: delivery id -> when its next attempt is due (ms); a claimed one is leased ahead. */
    due: () => `${P}:webhooks:due`,
  },
  sched: {
    /** Workspaces that have a ready thread, rotated round-robin by the dispatcher. */
    ring: () => `${P}:sched:ring`,
    ringMembers: () => `${P}:sched:ring:members`,
    /** Threads of a workspace with a pending turn and no active one, oldest first. */
    ready: (ws: string) => `${P}:sched:ws:${ws}:ready`,
    /** Turns of a workspace dispatched or running (the per-workspace cap counts these). */
    running: (ws: string) => `${P}:sched:ws:${ws}:running`,
    /** Turns of a workspace accepted and not yet dispatched (the per-workspace queue cap counts these). */
    queuedIn: (ws: string) => `${P}:sched:ws:${ws}:queued`,
    /** Turns dispatched to BullMQ but not started yet (the dispatch window counts these). */
    waiting: () => `${P}:sched:waiting`,
    /** How many turns are accepted and not yet dispatched (the queue-depth gauge). */
    queued: () => `${P}:sched:queued`,
    /** turn id -> dispatch time: re-added to BullMQ on start-up if the job was lost. */
    dispatched: () => `${P}:sched:dispatched`,
  },
};

export const channels = {
  /** Published when a slot frees or work arrives: the dispatcher runs a pass. */
  wake: `${P}:sched:wake`,
  /** Published with a turn id when someone interrupts it. */
  interrupt: `${P}:turns:interrupt`,
  /** Published with an approval id when a person decides it. */
  approvalDecided: `${P}:approvals:decided`,
};

// ---- the sandbox runtime, shared with the egress proxy (which listens on the sandbox networks
// recorded here) and the orchestrator (thread deletions)
export const sandboxKeys = {
  /** Present (PX = lease) while the worker is alive; the reaper removes what a lapsed owner left. */
  workerLease: (workerId: string) => `${P}:worker:${workerId}:lease`,
  /** Hash: the sandbox's record (owner, tenant = the workspace id, thread, container, network, ip, lastUsedAt...). */
  sandbox: (sandboxId: string) => `${P}:sandbox:${sandboxId}`,
  /** String: the sandbox a thread uses, so the next turn reuses it. */
  threadSandbox: (workspace: string, thread: string) => `${P}:thread-sandbox:${workspace}:${thread}`,
  /** List of unassigned sandbox ids for one pool key; LPOP is the atomic claim. */
  warmPool: (poolKey: string) => `${P}:warm:${poolKey}`,
  /** JSON SandboxNetworkRecord: where the proxy must listen for one sandbox network. */
  network: (network: string) => `${P}:sandbox-network:${network}`,
  /**
   * Sorted set: threads deleted whose sandbox may still exist, members JSON {tenant, thread}, scored by
   * deletion time (ms). The orchestrator adds; the worker owning the sandbox removes it once destroyed.
   */
  deletedThreads: () => `${P}:sandbox:deleted-threads`,
  /**
   * Hash workerId -> JSON WorkerDirectoryEntry {url, expires_at_ms}: each live worker's internal endpoint
   * (files API), refreshed with its lease; the orchestrator picks a live one for a thread without a sandbox.
   */
  workerDirectory: () => `${P}:worker:directory`,
  /**
   * Hash workerId -> JSON WorkerImageInventory {images, expires_at_ms}: the allowed images each live
   * worker's engine holds, so environment creation refuses an image no engine has (orchestrator reads).
   */
  workerImages: () => `${P}:worker:images`,
};

export const sandboxChannels = {
  /** Published with a deletedThreads member when a thread is deleted: its sandbox goes now. */
  threadDeleted: `${P}:sandbox:thread-deleted`,
};

// ---- the egress proxy's state: the worker writes, the proxy reads (egress/egress-record.ts has the records)
export const egressKeys = {
  /** JSON SandboxEgressRecord. */
  sandbox: (sandboxId: string) => `${P}:egress:sandbox:${sandboxId}`,
  /** The sandbox id at `address` on the Docker network `network`. */
  source: (network: string, address: string) => `${P}:egress:source:${network}:${address}`,
  /** JSON ExecCredential under the sha256 (hex) of the token; PX TTL = its lifetime. */
  execCredential: (sandboxId: string, tokenSha256: string) =>
    `${P}:egress:cred:${sandboxId}:${tokenSha256}`,
  /** Hash `host:port` -> JSON ThreadGrant. */
  threadGrants: (threadId: string) => `${P}:egress:grants:${threadId}`,
  /** Hash {bytes_in, bytes_out, requests} per sandbox. */
  sandboxBytes: (sandboxId: string) => `${P}:egress:bytes:${sandboxId}`,
  /** Stream of DecisionRecord (egress/decision.ts). */
  decisions: `${P}:egress:decisions`,
  /** Pub/sub channel: newline-separated keys above (sandbox, source, cred) a writer just changed or
   * deleted; the proxy drops its cached copies of them (services/egress-proxy/src/identity-cache.ts). */
  changed: `${P}:egress:changed`,
} as const;

// ---- Lua: key helpers generated from the functions above

const HOLE = '\u0000';

/**
 * A Lua function that builds the same key as `fn`, e.g. `luaKeyFunction('k_pending', keys.threadPending)`
 * gives `local function k_pending(p1) return 'paddock:thread:'..p1..':pending' end`.
 */
export function luaKeyFunction(name: string, fn: (...parts: string[]) => string): string {
  const params = Array.from({ length: fn.length }, (_, i) => `p${i + 1}`);
  const pieces = fn(...params.map((p) => `${HOLE}${p}${HOLE}`)).split(HOLE);
  const expr = pieces
    .map((piece, i) => (i % 2 === 1 ? piece : luaString(piece)))
    .filter((piece) => piece !== "''")
    .join('..');
  return `local function ${name}(${params.join(', ')}) return ${expr} end`;
}

/** A Lua constant holding a key or channel name, e.g. `local K_RING = 'paddock:sched:ring'`. */
export const luaKeyConstant = (name: string, key: string): string => `local ${name} = ${luaString(key)}`;

function luaString(text: string): string {
  if (/['\\\n]/.test(text)) throw new Error(`key text ${JSON.stringify(text)} needs Lua escaping`);
  return `'${text}'`;
}
