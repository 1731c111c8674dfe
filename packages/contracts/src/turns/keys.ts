// Every Redis key and channel of tenancy, threads, turns, events and the fair scheduler, in one
// place so the orchestrator (producer) and the sandbox worker (consumer) cannot drift.

const P = 'paddock';

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
  /** JSON list of the agent conversation of the thread (messages the model sees). */
  conversation: (thr: string) => `${P}:thread:${thr}:conversation`,
  idempotency: (thr: string, keyHash: string) => `${P}:thread:${thr}:idem:${keyHash}`,
  rate: (tokenId: string, window: number) => `${P}:rate:${tokenId}:${window}`,
  sched: {
    /** Workspaces that have a ready thread, rotated round-robin by the dispatcher. */
    ring: () => `${P}:sched:ring`,
    ringMembers: () => `${P}:sched:ring:members`,
    /** Threads of a workspace with a pending turn and no active one, oldest first. */
    ready: (ws: string) => `${P}:sched:ws:${ws}:ready`,
    /** Turns of a workspace dispatched or running (the per-workspace cap counts these). */
    running: (ws: string) => `${P}:sched:ws:${ws}:running`,
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
