// bench:turns — the whole turn path under load: orchestrator API → fair queue → 2 sandbox workers
// (concurrency 4 each, warm pools) → the gate → the sandbox's exec agent → events. 200 scripted
// turns of three short commands across 10 workspaces (one thread each, a closed-loop client per
// workspace), then a review phase: turns whose first command is escalated and reviewed by the
// guardian (fake model answering at once) against the same turns unreviewed, and 20 turns one at a
// time (no queueing: the path's own enqueue-to-first-command latency). Baseline of the same
// run: the same three commands straight through the sandbox manager (no API, queue, gate or events).
// Everything is local: a redis-server, Docker, loopback servers. Last stdout line: one JSON object.
import { poolKey } from '@paddock/sandbox-worker';
import { keys, parseEntries, sandboxKeys, type ThreadEvent } from '@paddock/contracts';
import { waitFor } from '@paddock/testing';
import {
  apiOf,
  type Cluster,
  newThread,
  newWorkspace,
  SMALL_LIMITS,
  startCluster,
} from '@paddock/e2e-tests';

const TURNS = Number(process.env['TURNS'] ?? 200);
const WORKSPACES = Number(process.env['WORKSPACES'] ?? 10);
const REVIEW_TURNS = Number(process.env['REVIEW_TURNS'] ?? 20);
/** The warm pool's size (one list per pool key, shared by the workers on this host). */
const WARM_POOL = Number(process.env['WARM_POOL'] ?? 10);
const TURN_DEADLINE_MS = 60_000;
const COMMANDS = [{ argv: ['true'] }, { argv: ['echo', 'hello'] }, { argv: ['ls', '/workspace'] }];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const round = (x: number) => Math.round(x * 10) / 10;
const streamMs = (id: string) => Number(id.split('-')[0]);

type Timing = {
  enqueueToFirstCommandMs: number;
  startToFirstCommandMs: number;
  enqueueToEndMs: number;
  ok: boolean;
  error?: string;
};

/** Submits one turn and follows its thread's stream (XREAD BLOCK) until the turn ends. */
async function runTurn(c: Cluster, token: string, threadId: string, commands: unknown[]): Promise<Timing> {
  const reader = c.client.duplicate();
  try {
    const last = (await reader.xrevrange(keys.events(threadId), '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
    const call = apiOf(c);
    const enqueuedAt = Date.now();
    const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { commands });
    if (r.status !== 202) throw new Error(`submit: ${r.status} ${JSON.stringify(r.json)}`);
    const turnId = r.json.id as string;
    let cursor = last;
    let startedAt: number | undefined;
    let firstCommandAt: number | undefined;
    const deadline = Date.now() + TURN_DEADLINE_MS;
    while (Date.now() < deadline) {
      const res = (await reader.xread('BLOCK', 5_000, 'STREAMS', keys.events(threadId), cursor)) as
        | [string, [string, string[]][]][]
        | null;
      for (const { id, event } of parseEntries(res?.[0]?.[1] ?? [])) {
        cursor = id;
        const e = event as ThreadEvent;
        if (e.type === 'turn.started' && e.turn_id === turnId) startedAt = streamMs(id);
        if (e.type === 'item.started' && e.turn_id === turnId && e.item.type === 'command_execution')
          firstCommandAt ??= streamMs(id);
        if ((e.type === 'turn.completed' || e.type === 'turn.failed') && e.turn_id === turnId) {
          return {
            enqueueToFirstCommandMs: (firstCommandAt ?? Number.NaN) - enqueuedAt,
            startToFirstCommandMs: (firstCommandAt ?? Number.NaN) - (startedAt ?? Number.NaN),
            enqueueToEndMs: streamMs(id) - enqueuedAt,
            ok: e.type === 'turn.completed',
            ...(e.type === 'turn.failed' ? { error: `${e.error.code ?? ''}: ${e.error.message}` } : {}),
          };
        }
      }
    }
    throw new Error(`turn ${turnId} did not end within ${TURN_DEADLINE_MS} ms`);
  } finally {
    reader.disconnect();
  }
}

async function main() {
  const c = await startCluster('bench-turns', {
    workers: 2,
    worker: { concurrency: 4, warmPoolSize: WARM_POOL, approvalTimeoutMs: 10_000, turnLockMs: 30_000 },
  });
  try {
    c.guardianModel.setHandler(() => ({
      kind: 'json',
      value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' },
    }));
    const config = {
      sandbox_mode: 'workspace-write',
      approval_policy: 'on-request',
      approvals_reviewer: 'auto_review',
    };
    const tenants: { token: string; threadId: string }[] = [];
    for (let i = 0; i < WORKSPACES; i++) {
      const ws = await newWorkspace(c, `bench-${i}`);
      tenants.push({ token: ws.owner, threadId: await newThread(c, ws.owner, config) });
    }
    const warmKey = sandboxKeys.warmPool(poolKey({ image: c.image, limits: SMALL_LIMITS }));
    await waitFor(
      async () => (await c.client.llen(warmKey)) >= WARM_POOL,
      180_000,
      'warm pools filled',
    );

    // Phase 1: 200 turns, one closed-loop client per workspace.
    const perTenant = Math.ceil(TURNS / WORKSPACES);
    const timings: Timing[] = [];
    const t0 = Date.now();
    await Promise.all(
      tenants.map(async (t, i) => {
        const mine = Math.min(perTenant, TURNS - i * perTenant);
        for (let k = 0; k < mine; k++) timings.push(await runTurn(c, t.token, t.threadId, COMMANDS));
      }),
    );
    const elapsedS = (Date.now() - t0) / 1000;

    // Phase 2: reviewed (escalated first command, guardian approves) vs unreviewed, alternating, 2 clients.
    const reviewed: Timing[] = [];
    const plain: Timing[] = [];
    const escalated = [{ argv: ['true'], escalate: { justification: 'bench: reviewed command' } }, ...COMMANDS.slice(1)];
    await Promise.all(
      tenants.slice(0, 2).map(async (t) => {
        for (let k = 0; k < REVIEW_TURNS / 2; k++) {
          reviewed.push(await runTurn(c, t.token, t.threadId, escalated));
          plain.push(await runTurn(c, t.token, t.threadId, COMMANDS));
        }
      }),
    );

    // Phase 3: one client at a time (no queueing behind other turns): the engine's own latency.
    const idle: Timing[] = [];
    for (let k = 0; k < 20; k++) idle.push(await runTurn(c, tenants[k % WORKSPACES]!.token, tenants[k % WORKSPACES]!.threadId, COMMANDS));

    // Baseline: the same three commands straight through a worker's sandbox manager.
    const worker = c.workers[0]!;
    const { sandbox } = await worker.manager.forThread({ workspace: 'bench-baseline', thread: 'baseline' });
    const baseline: number[] = [];
    for (let k = 0; k < 50; k++) {
      const at = Date.now();
      for (const cmd of COMMANDS) await worker.manager.exec(sandbox, { argv: cmd.argv, mode: 'workspace-write' });
      baseline.push(Date.now() - at);
    }

    const firsts = timings.map((t) => t.enqueueToFirstCommandMs);
    if (process.env['BENCH_VERBOSE'])
      process.stderr.write(`${timings.map((t) => `${t.enqueueToFirstCommandMs}/${t.startToFirstCommandMs}/${t.enqueueToEndMs}`).join(' ')}\n`);
    const summary = {
      bench: 'turns',
      turns: timings.length,
      turns_failed: timings.filter((t) => !t.ok).length,
      failure_codes: [...new Set(timings.flatMap((t) => (t.error ? [t.error] : [])))],
      workspaces: WORKSPACES,
      workers: 2,
      worker_concurrency: 4,
      turns_per_s: round(timings.length / elapsedS),
      enqueue_to_first_command_p50_ms: round(pct(firsts, 50)),
      enqueue_to_first_command_p99_ms: round(pct(firsts, 99)),
      turn_start_to_first_command_p50_ms: round(pct(timings.map((t) => t.startToFirstCommandMs), 50)),
      enqueue_to_turn_end_p50_ms: round(pct(timings.map((t) => t.enqueueToEndMs), 50)),
      enqueue_to_turn_end_p99_ms: round(pct(timings.map((t) => t.enqueueToEndMs), 99)),
      idle_enqueue_to_first_command_p50_ms: round(pct(idle.map((t) => t.enqueueToFirstCommandMs), 50)),
      idle_enqueue_to_first_command_p99_ms: round(pct(idle.map((t) => t.enqueueToFirstCommandMs), 99)),
      review_turns: reviewed.length,
      review_overhead_p50_ms: round(
        pct(reviewed.map((t) => t.startToFirstCommandMs), 50) - pct(plain.map((t) => t.startToFirstCommandMs), 50),
      ),
      reviewed_start_to_first_command_p50_ms: round(pct(reviewed.map((t) => t.startToFirstCommandMs), 50)),
      baseline_direct_three_commands_p50_ms: round(pct(baseline, 50)),
      baseline_direct_three_commands_p99_ms: round(pct(baseline, 99)),
    };
    console.log(JSON.stringify(summary));
  } finally {
    await c.close();
  }
}

await main();
// A one-shot process: a handle some client library keeps (a socket in its pool) must not hold it open.
process.exit(0);
