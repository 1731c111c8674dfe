// bench:queue — fairness and throughput of the turn queue. Ten workspaces: one submits 1,000
// scripted no-op turns, nine submit 10 each while that backlog drains; a stub consumer (the shared
// consumer API, holding each turn for TURN_MS) drains them. The same workload then runs through the
// naive design — one BullMQ FIFO, a job added at submission — as the baseline of the same run.
// Everything runs on loopback against a redis-server this bench starts (AOF on).
// Last stdout line: one JSON object.
import { Queue, Worker } from 'bullmq';
import { pino } from 'pino';
import { startTurnConsumer } from '@paddock/turn-queue';
import { type TurnJob } from '@paddock/contracts';
import { startRedis, waitFor } from '@paddock/testing';
import { orchestratorSettings, startOrchestrator } from '@paddock/orchestrator';

const BIG_TURNS = Number(process.env['BIG_TURNS'] ?? 1000);
const SMALL_TENANTS = 9;
const SMALL_TURNS = 10;
const CONCURRENCY = Number(process.env['CONCURRENCY'] ?? 4);
const TURN_MS = Number(process.env['TURN_MS'] ?? 10);
const BIG_THREADS = 20;
/** Turns waiting in BullMQ at most: room to refill the consumer's slots, too shallow to queue a backlog in. */
/** Turns of one workspace dispatched or running at most. */
const WORKSPACE_CAP = Number(process.env['WORKSPACE_CAP'] ?? CONCURRENCY);
const DISPATCH_WINDOW = Number(process.env['DISPATCH_WINDOW'] ?? CONCURRENCY);
/** Small tenants arrive one after another while the big backlog drains. */
const SMALL_ARRIVAL_GAP_MS = Number(process.env['SMALL_ARRIVAL_GAP_MS'] ?? 60);
const DEADLINE_MS = 300_000;

type Start = { turnId: string; workspace: string; at: number };
type Submit = { turnId: string; workspace: string; at: number; first: boolean };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Metrics shared by both designs, from the start and submission logs. */
function summarize(starts: Start[], submits: Submit[], bigId: string, elapsedMs: number) {
  starts.sort((a, b) => a.at - b.at);
  const startAt = new Map(starts.map((s, i) => [s.turnId, { at: s.at, index: i }]));
  const firstWaitsMs: number[] = [];
  const firstWaitsSlots: number[] = [];
  for (const sub of submits.filter((s) => s.first && s.workspace !== bigId)) {
    const st = startAt.get(sub.turnId);
    if (!st) continue;
    firstWaitsMs.push(st.at - sub.at);
    // Big-tenant turns that started between this submission and this turn's start, in turn slots.
    const bigAhead = starts.filter((s) => s.workspace === bigId && s.at >= sub.at && s.at <= st.at).length;
    firstWaitsSlots.push(bigAhead / CONCURRENCY);
  }
  // The big tenant's share of starts while some small tenant had a submitted turn not yet started.
  const smallSubmits = submits.filter((s) => s.workspace !== bigId);
  let whileWaiting = 0;
  let bigWhileWaiting = 0;
  for (const s of starts) {
    const someoneWaits = smallSubmits.some((sub) => {
      const st = startAt.get(sub.turnId);
      return sub.at <= s.at && st !== undefined && st.at > s.at;
    });
    if (!someoneWaits) continue;
    whileWaiting++;
    if (s.workspace === bigId) bigWhileWaiting++;
  }
  return {
    turns_per_s: round(starts.length / (elapsedMs / 1000), 1),
    small_tenant_first_start_p50_ms: round(pct(firstWaitsMs, 50), 1),
    small_tenant_first_start_p99_ms: round(pct(firstWaitsMs, 99), 1),
    small_tenant_first_start_p99_slots: round(pct(firstWaitsSlots, 99)),
    big_tenant_share: whileWaiting ? round(bigWhileWaiting / whileWaiting, 3) : 0,
  };
}

async function runFair(redisUrl: string) {
  const logger = pino({ level: 'silent' });
  const operatorKey = 'bench-operator-key';
  const settings = {
    ...orchestratorSettings({ file: {}, orchestrator: { host: '127.0.0.1', port: 0, operatorKeyEnv: 'K' } }, { K: operatorKey }),
    maxRunningTurnsPerWorkspace: WORKSPACE_CAP,
    dispatchWindow: DISPATCH_WINDOW,
    rateLimit: { requests: 1_000_000, windowMs: 60_000, workspaceRequests: 1_000_000, anonymousRequests: 1_000_000 },
  };
  const orch = await startOrchestrator({ redisUrl, settings, logger });
  await orch.app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(orch.app.server.address() as { port: number }).port}`;
  const post = async (path: string, token: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const tenants: { id: string; token: string; threads: string[] }[] = [];
  for (let i = 0; i < 1 + SMALL_TENANTS; i++) {
    const ws = (await post('/v1/workspaces', operatorKey, { name: `t${i}`, owner_email: `o@t${i}.test` })) as {
      workspace: { id: string };
      owner_token: { secret: string };
    };
    const token = ws.owner_token.secret;
    const env = (await post('/v1/environments', token, { name: 'noop', image: 'paddock/sandbox-base:latest' })) as { id: string };
    const threads: string[] = [];
    for (let t = 0; t < (i === 0 ? BIG_THREADS : 2); t++) {
      threads.push(((await post('/v1/threads', token, { environment_id: env.id })) as { id: string }).id);
    }
    tenants.push({ id: ws.workspace.id, token, threads });
  }
  const [big, ...small] = tenants as [(typeof tenants)[0], ...typeof tenants];
  const submits: Submit[] = [];
  const submit = async (tenant: (typeof tenants)[0], n: number, first: boolean) => {
    const at = Date.now();
    const thread = tenant.threads[n % tenant.threads.length]!;
    const r = (await post(`/v1/threads/${thread}/turns`, tenant.token, {
      commands: [{ argv: ['true'] }],
    })) as { id: string };
    submits.push({ turnId: r.id, workspace: tenant.id, at, first });
  };

  // The big backlog first, 16 requests in flight.
  for (let i = 0; i < BIG_TURNS; i += 16) {
    await Promise.all(
      Array.from({ length: Math.min(16, BIG_TURNS - i) }, (_, k) => submit(big, i + k, i + k === 0)),
    );
  }
  const starts: Start[] = [];
  const t0 = Date.now();
  const consumer = await startTurnConsumer({
    redisUrl,
    concurrency: CONCURRENCY,
    run: async (job: TurnJob) => {
      starts.push({ turnId: job.turn_id, workspace: job.workspace_id, at: Date.now() });
      await sleep(TURN_MS);
      return { status: 'completed' };
    },
  });
  // Small tenants arrive one by one while the big backlog drains.
  await waitFor(() => starts.length >= 20, 30_000, 'backlog draining');
  const smallDone = small.map(async (tenant, i) => {
    await sleep(i * SMALL_ARRIVAL_GAP_MS);
    for (let n = 0; n < SMALL_TURNS; n++) await submit(tenant, n, n === 0);
  });
  await Promise.all(smallDone);
  const total = BIG_TURNS + SMALL_TENANTS * SMALL_TURNS;
  await waitFor(() => starts.length >= total, DEADLINE_MS, 'fair drain');
  const elapsedMs = Date.now() - t0;
  await consumer.close();
  await orch.close();
  return summarize(starts, submits, big.id, elapsedMs);
}

/** The naive design: one FIFO, the job added when the turn is submitted. */
async function runBaseline(redisUrl: string) {
  const queue = new Queue('bench-baseline', { connection: { url: redisUrl } });
  const bigId = 'big';
  const submits: Submit[] = [];
  const add = async (workspace: string, n: number, first: boolean) => {
    const at = Date.now();
    const job = await queue.add('turn', { workspace }, { removeOnComplete: true });
    submits.push({ turnId: job.id!, workspace, at, first });
    return n;
  };
  for (let i = 0; i < BIG_TURNS; i += 16) {
    await Promise.all(Array.from({ length: Math.min(16, BIG_TURNS - i) }, (_, k) => add(bigId, i + k, i + k === 0)));
  }
  const starts: Start[] = [];
  const t0 = Date.now();
  const worker = new Worker(
    'bench-baseline',
    async (job) => {
      starts.push({ turnId: job.id!, workspace: (job.data as { workspace: string }).workspace, at: Date.now() });
      await sleep(TURN_MS);
    },
    { connection: { url: redisUrl, maxRetriesPerRequest: null }, concurrency: CONCURRENCY },
  );
  await waitFor(() => starts.length >= 20, 30_000, 'baseline draining');
  await Promise.all(
    Array.from({ length: SMALL_TENANTS }, async (_, i) => {
      await sleep(i * SMALL_ARRIVAL_GAP_MS);
      for (let n = 0; n < SMALL_TURNS; n++) await add(`small-${i}`, n, n === 0);
    }),
  );
  const total = BIG_TURNS + SMALL_TENANTS * SMALL_TURNS;
  await waitFor(() => starts.length >= total, DEADLINE_MS, 'baseline drain');
  const elapsedMs = Date.now() - t0;
  await worker.close();
  await queue.close();
  return summarize(starts, submits, bigId, elapsedMs);
}

const redis = await startRedis({ appendonly: true });
try {
  const fair = await runFair(redis.url);
  const baseline = await runBaseline(redis.url);
  console.log(
    JSON.stringify({
      bench: 'queue',
      workspaces: 1 + SMALL_TENANTS,
      turns: BIG_TURNS + SMALL_TENANTS * SMALL_TURNS,
      concurrency: CONCURRENCY,
      turn_ms: TURN_MS,
      dispatch_window: DISPATCH_WINDOW,
      per_workspace_cap: WORKSPACE_CAP,
      ...fair,
      goal_small_first_start_within_2_slots: fair.small_tenant_first_start_p99_slots <= 2,
      baseline_single_fifo: baseline,
    }),
  );
} finally {
  await redis.stop();
}
