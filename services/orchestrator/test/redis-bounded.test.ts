// Bounded Redis: 10,000 scripted turns with large outputs, accepted through the API, dispatched by the
// fair scheduler and run by the shared consumer whose stub runner writes each command's output through
// the real event writer, on a Redis with maxmemory (noeviction). Every turn completes (a write past the
// bound would fail it) and used_memory_peak stays under maxmemory; it prints the bytes per turn.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { appendEvent, configureStreamRetention, keys, type TurnJob } from '@paddock/contracts';
import { startTurnConsumer, type TurnConsumer } from '@paddock/turn-queue';
import { type RedisServer, startRedis } from '@paddock/testing';
import type { Redis } from 'ioredis';
import type { Orchestrator } from '../src/orchestrator.ts';
import { readRedisMemory } from '../src/redis-memory.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

const MAXMEMORY_MB = 64;
const TURNS = 10_000;
const OUTPUT_BYTES = 16 * 1024;
const WORKSPACES = 4;
const THREADS_PER_WORKSPACE = 5;
/** Turns submitted per thread before waiting for them all to end (well under any per-thread cap). */
const TURNS_PER_THREAD_PER_ROUND = 5;
const ROUND_DEADLINE_MS = 60_000;

let redis: RedisServer;
let orch: Orchestrator;
let consumer: TurnConsumer;
let client: Redis;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ appendonly: true, maxmemoryMb: MAXMEMORY_MB });
  client = redis.client();
  // What the [redis] section sets at each service's start; the smallest per-thread count allowed.
  configureStreamRetention({ eventsMaxPerThread: 100, eventsRetentionMs: 604_800_000, auditMaxPerWorkspace: 1_000 });
  orch = await start(redis.url, {
    settings: { maxRunningTurnsPerWorkspace: 8, dispatchWindow: 32, rateLimit: { requests: 1_000_000, windowMs: 60_000, workspaceRequests: 1_000_000, anonymousRequests: 1_000_000 } },
  });
  const output = 'x'.repeat(OUTPUT_BYTES - 1) + '\n';
  consumer = await startTurnConsumer({
    redisUrl: redis.url,
    concurrency: 16,
    // A scripted turn's one command: its item events with the whole output, as the worker writes them.
    run: async (job: TurnJob, { redis: r }) => {
      const item = { id: `${job.turn_id}_c0`, type: 'command_execution' as const, command: 'yes x', aggregated_output: '', exit_code: null, status: 'in_progress' as const };
      await appendEvent(r, job.thread_id, { type: 'item.started', turn_id: job.turn_id, item });
      await appendEvent(r, job.thread_id, {
        type: 'item.completed',
        turn_id: job.turn_id,
        item: { ...item, aggregated_output: output, exit_code: 0, status: 'completed' },
      });
      return { status: 'completed' };
    },
  });
});
after(async () => {
  await consumer?.close();
  await orch?.close();
  await redis?.stop();
});

describe('Redis stays under its maxmemory', () => {
  test(`${TURNS} turns of ${OUTPUT_BYTES / 1024} KiB output each on a ${MAXMEMORY_MB} MiB Redis: all complete, memory under the bound`, { timeout: 600_000 }, async () => {
    const threads: { token: string; threadId: string }[] = [];
    for (let w = 0; w < WORKSPACES; w++) {
      const ws = await newWorkspace(call, `bound${w}`);
      for (let t = 0; t < THREADS_PER_WORKSPACE; t++) threads.push({ token: ws.owner, ...(await newThread(call, ws.owner)) });
    }
    const perRound = threads.length * TURNS_PER_THREAD_PER_ROUND;
    const rounds = Math.ceil(TURNS / perRound);
    const statuses = new Map<string, number>();
    let usedAtHalf: number | undefined;
    for (let round = 0; round < rounds; round++) {
      const ids: string[] = [];
      for (let k = 0; k < TURNS_PER_THREAD_PER_ROUND; k++) {
        const posted = await Promise.all(
          threads.map((t) => call('POST', `/v1/threads/${t.threadId}/turns`, t.token, { commands: [{ argv: ['yes', 'x'] }] })),
        );
        for (const r of posted) {
          assert.equal(r.status, 202, r.body);
          ids.push(r.json.id as string);
        }
      }
      // Wait (bounded) until every turn of the round ended, then count how each ended.
      const deadline = Date.now() + ROUND_DEADLINE_MS;
      let ended: (string | null)[] = [];
      for (let polls = 0; polls < 6_000 && Date.now() < deadline; polls++) {
        const p = client.pipeline();
        for (const id of ids) p.hget(keys.turn(id), 'status');
        ended = ((await p.exec()) ?? []).map(([, v]) => v as string | null);
        if (ended.every((s) => s === 'completed' || s === 'failed' || s === 'interrupted')) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const s of ended) statuses.set(s ?? 'missing', (statuses.get(s ?? 'missing') ?? 0) + 1);
      if (round === Math.floor(rounds / 2) - 1) usedAtHalf = (await readRedisMemory(client)).usedBytes;
    }
    const mem = await readRedisMemory(client);
    const peak = Number(/^used_memory_peak:(\d+)/m.exec(await client.info('memory'))?.[1]);
    const turns = rounds * perRound;
    const raw = turns * OUTPUT_BYTES;
    // Steady state: the growth per turn over the second half, once every stream reached its bound.
    const bytesPerTurn = Math.round((mem.usedBytes - (usedAtHalf ?? 0)) / (turns - Math.floor(rounds / 2) * perRound));
    // Where the bytes are, by key family (ids replaced by *), so the per-turn figure says what grows.
    const families = new Map<string, number>();
    let cursor = '0';
    for (let scans = 0; scans < 10_000; scans++) {
      const [next, found] = await client.scan(cursor, 'COUNT', 1000);
      const p = client.pipeline();
      for (const k of found) p.memory('USAGE', k);
      const sizes = ((await p.exec()) ?? []).map(([, v]) => Number(v));
      found.forEach((k, i) => {
        const family = k.split(':').map((part) => (/^[a-z]+_[A-Za-z0-9_-]{8,}$|^\d+$/.test(part) ? '*' : part)).join(':');
        families.set(family, (families.get(family) ?? 0) + (sizes[i] ?? 0));
      });
      cursor = next;
      if (cursor === '0') break;
    }
    const top = [...families].sort((a, b) => b[1] - a[1]).slice(0, 12);
    console.log(JSON.stringify({ bytes_by_key_family: Object.fromEntries(top) }));
    console.log(
      JSON.stringify({
        turns,
        output_bytes_written: raw,
        used_memory_bytes: mem.usedBytes,
        used_memory_peak_bytes: peak,
        maxmemory_bytes: mem.maxBytes,
        steady_state_bytes_per_turn: bytesPerTurn,
      }),
    );
    assert.deepEqual(Object.fromEntries(statuses), { completed: turns });
    assert.equal(mem.maxBytes, MAXMEMORY_MB * 1024 * 1024);
    assert.ok(raw > 2 * mem.maxBytes, 'the outputs written are well over the bound, so retention had to act');
    assert.ok(peak < mem.maxBytes, `peak ${peak} under maxmemory ${mem.maxBytes}`);
    // Every thread's stream holds about its count bound, not its whole history.
    const lengths = await Promise.all(threads.map((t) => client.xlen(keys.events(t.threadId))));
    for (const n of lengths) assert.ok(n <= 300, `stream length ${n}`);
    assert.ok(await client.pttl(keys.events(threads[0]!.threadId)) > 0, 'an event stream expires when idle');
  });
});
