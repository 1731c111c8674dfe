// Redis through Sentinel: a real primary, replica and three sentinels on loopback, each service user
// from the cluster's ACL on both nodes. Turns run through the orchestrator (API, fair scheduler) and the
// shared consumer, both connected by redis-sentinel:// URLs; SENTINEL FAILOVER; more turns run on the new
// primary with the scheduler's Lua scripts unchanged (loaded there by ioredis on NOSCRIPT).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { appendEvent, keys, type TurnJob } from '@paddock/contracts';
import { parseSentinelUrl } from '@paddock/platform';
import { startTurnConsumer, type TurnConsumer } from '@paddock/turn-queue';
import { type SentinelGroup, startSentinelGroup, waitFor } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

let group: SentinelGroup;
let orch: Orchestrator;
let consumer: TurnConsumer;
const call = api(() => orch);
const ran: string[] = [];

before(async () => {
  group = await startSentinelGroup();
  orch = await start(group.urlFor('orchestrator'));
  consumer = await startTurnConsumer({
    redisUrl: group.urlFor('sandbox-worker'),
    concurrency: 4,
    run: async (job: TurnJob, { redis }) => {
      ran.push(job.turn_id);
      await appendEvent(redis, job.thread_id, {
        type: 'item.completed',
        turn_id: job.turn_id,
        item: { id: `${job.turn_id}_m`, type: 'agent_message', text: 'done' },
      });
      return { status: 'completed' };
    },
  });
});
after(async () => {
  await consumer?.close();
  await orch?.close();
  await group?.stop();
});

/** Submits `n` turns (retrying, bounded, while clients find the new primary) and waits until they complete. */
async function runTurns(token: string, threadId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    let id: string | undefined;
    await waitFor(
      async () => {
        const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { commands: [{ argv: ['true'] }] });
        if (r.status === 202) id = r.json.id as string;
        return id !== undefined;
      },
      30_000,
      'turn accepted',
    );
    ids.push(id!);
  }
  for (const id of ids) {
    await waitFor(
      async () => (await call('GET', `/v1/threads/${threadId}/turns/${id}`, token)).json?.status === 'completed',
      30_000,
      `turn ${id} completed`,
    );
  }
  return ids;
}

describe('Redis through Sentinel', () => {
  test('the URL names the sentinels and the primary, never needing a data node address', () => {
    const t = parseSentinelUrl('redis-sentinel://orchestrator:p%40ss@10.0.0.1:26379,10.0.0.2:26380/paddock?sentinel_password=s');
    assert.deepEqual(t, {
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
      ],
      name: 'paddock',
      username: 'orchestrator',
      password: 'p@ss',
      sentinelPassword: 's',
    });
    assert.throws(() => parseSentinelUrl('redis-sentinel://u:p@10.0.0.1:26379'), /primary name/);
    assert.throws(() => parseSentinelUrl('redis-sentinel://u:p@10.0.0.1:x/paddock'), /host:port/);
  });

  test('turns run before and after a failover; the scheduler scripts run on the new primary', { timeout: 180_000 }, async () => {
    const ws = await newWorkspace(call, 'ha');
    const { threadId } = await newThread(call, ws.owner);
    const before = await runTurns(ws.owner, threadId, 5);

    const { from, to } = await group.failover();
    assert.notEqual(from, to);
    assert.equal(to, group.dataPorts[1], 'the replica was promoted');
    const newPrimary = group.adminClient(to);
    // What was acknowledged before the failover is on the new primary.
    for (const id of before) assert.equal(await newPrimary.hget(keys.turn(id), 'status'), 'completed');

    const afterIds = await runTurns(ws.owner, threadId, 5);
    for (const id of afterIds) assert.equal(await newPrimary.hget(keys.turn(id), 'status'), 'completed');
    // Every turn ran exactly once, in order, and the thread's slot was released each time.
    assert.deepEqual(ran, [...before, ...afterIds]);
    assert.equal(await newPrimary.exists(keys.threadActive(threadId)), 0);
    const events = await newPrimary.xlen(keys.events(threadId));
    assert.ok(events >= 30, `events written on both primaries (${events})`);
  });
});
