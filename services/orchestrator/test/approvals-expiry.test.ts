// Approvals that can no longer matter end as `expired` and deciding them answers 409, against a real
// Redis under the cluster's ACL: the asker timed out, the asker's turn was interrupted while it
// waited, or the turn ended some other way (a lost worker) with the request still pending.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { keys } from '@paddock/contracts';
import { askPerson, createApprovalRequest, loadApproval } from '@paddock/turn-queue';
import { type RedisServer, startRedis } from '@paddock/testing';
import { Redis } from 'ioredis';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
let worker: Redis;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ acl: true, appendonly: true });
  orch = await start(redis.urlFor('orchestrator'), { dispatch: false });
  worker = new Redis(redis.urlFor('sandbox-worker'));
});
after(async () => {
  worker?.disconnect();
  await orch?.close();
  await redis?.stop();
});

const items = { started: async () => {}, completed: async () => {}, newItemId: () => 'item_x' };
const action = { type: 'exec', argv: ['rm', '-rf', 'build'], cwd: '/workspace' };

describe('expired approvals', () => {
  test('nobody answered in time: expired, and a late decision is 409 approval_expired', async () => {
    const ws = await newWorkspace(call, 'exp1');
    const { threadId } = await newThread(call, ws.owner);
    const answer = await askPerson(worker, { threadId, turnId: 'turn_t', workspaceId: ws.id, action, reason: 'r', timeoutMs: 50, items });
    assert.equal(answer.outcome, 'timed_out');
    const late = await call('POST', `/v1/approvals/${answer.approvalId}`, ws.owner, { decision: 'approve' });
    assert.equal(late.status, 409);
    assert.equal(late.json.error.code, 'approval_expired');
    const listed = await call('GET', `/v1/threads/${threadId}/approvals?status=expired`, ws.owner);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.json.items.map((a: { id: string }) => a.id), [answer.approvalId]);
    assert.equal(listed.json.items[0].decided_by, 'timeout');
  });

  test('the turn was interrupted while it waited: expired, deciding it is 409', async () => {
    const ws = await newWorkspace(call, 'exp2');
    const { threadId } = await newThread(call, ws.owner);
    const interrupt = new AbortController();
    const asked = askPerson(worker, {
      threadId,
      turnId: 'turn_i',
      workspaceId: ws.id,
      action,
      reason: 'r',
      timeoutMs: 60_000,
      items,
      signal: interrupt.signal,
    });
    // Bounded wait for the request to appear, then the turn is interrupted.
    let pending: string | undefined;
    for (let i = 0; i < 100 && !pending; i++) {
      pending = (await redis.client().zrange(keys.approvals(threadId), "0", "-1"))[0];
      if (!pending) await sleep(10);
    }
    assert.ok(pending, 'the approval request was written');
    interrupt.abort();
    const answer = await asked;
    assert.equal(answer.outcome, 'aborted');
    assert.equal((await loadApproval(redis.client(), answer.approvalId))?.status, 'expired');
    const r = await call('POST', `/v1/approvals/${answer.approvalId}`, ws.owner, { decision: 'approve_for_thread' });
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'approval_expired');
    // Nothing was approved for the thread.
    assert.equal(await redis.client().scard(keys.approvedForThread(threadId)), 0);
  });

  test('its turn ended with the request still pending (a lost worker): deciding it expires it, 409', async () => {
    const ws = await newWorkspace(call, 'exp3');
    const { threadId } = await newThread(call, ws.owner);
    const turnId = 'turn_lost';
    await redis.client().hset(keys.turn(turnId), 'id', turnId, 'status', 'failed', 'workspace_id', ws.id, 'thread_id', threadId);
    const rec = await createApprovalRequest(worker, { threadId, turnId, workspaceId: ws.id, action, reason: 'r' });
    const r = await call('POST', `/v1/approvals/${rec.id}`, ws.owner, { decision: 'approve' });
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'approval_expired');
    const stored = await loadApproval(redis.client(), rec.id);
    assert.equal(stored?.status, 'expired');
    assert.equal(stored?.decided_by, 'turn_ended');
    // A pending request of a live turn is still decided normally.
    await redis.client().hset(keys.turn('turn_live'), 'id', 'turn_live', 'status', 'running');
    const live = await createApprovalRequest(worker, { threadId, turnId: 'turn_live', workspaceId: ws.id, action, reason: 'r' });
    assert.equal((await call('POST', `/v1/approvals/${live.id}`, ws.owner, { decision: 'deny' })).status, 200);
  });
});
