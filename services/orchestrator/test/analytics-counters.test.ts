// Approvals counted at their source, against a real Redis under the cluster's ACL: the request (the
// asker, as the worker's and the proxy's users), each answer where it is decided (the API), the
// asker's time-out, a denial approved for a retry; and a counter that cannot be written never fails
// or blocks the action it counts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { analyticsKeys, utcDay } from '@paddock/contracts';
import { askPerson, countSafely, createApprovalRequest, decideApproval, loadApproval, recordDenial } from '@paddock/turn-queue';
import { type RedisServer, startRedis } from '@paddock/testing';
import { Redis } from 'ioredis';
import type { Orchestrator } from '../src/orchestrator.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);

before(async () => {
  redis = await startRedis({ acl: true, appendonly: true });
  orch = await start(redis.urlFor('orchestrator'), { dispatch: false });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

/** The day's approvals bucket, once it holds `want` (counters are written in the background; bounded wait). */
async function approvalsOnce(ws: string, want: Record<string, string>): Promise<Record<string, string>> {
  const admin = redis.client();
  let got: Record<string, string> = {};
  for (let i = 0; i < 100; i++) {
    got = await admin.hgetall(analyticsKeys.approvals(ws, utcDay(Date.now())));
    if (Object.entries(want).every(([k, v]) => got[k] === v)) return got;
    await sleep(20);
  }
  return got;
}

const items = { started: async () => {}, completed: async () => {}, newItemId: () => 'item_x' };
const action = { type: 'exec', argv: ['curl', 'http://127.0.0.1:9'], cwd: '/workspace' };

describe('approvals counted at their source', () => {
  test('requested by the asker; approved, for the thread and denied where decided; timed out where the asker gives up', async () => {
    const ws = await newWorkspace(call, 'cnt1');
    const { threadId } = await newThread(call, ws.owner);
    const worker = new Redis(redis.urlFor('sandbox-worker'));
    const proxy = new Redis(redis.urlFor('egress-proxy'));
    try {
      const ask = (c: Redis) =>
        createApprovalRequest(c, { threadId, turnId: 'turn_x', workspaceId: ws.id, action, reason: 'r' });
      const [a, b, d] = [await ask(worker), await ask(proxy), await ask(worker)];
      for (const [rec, decision] of [
        [a, 'approve'],
        [b, 'approve_for_thread'],
        [d, 'deny'],
      ] as const) {
        assert.equal((await call('POST', `/v1/approvals/${rec.id}`, ws.owner, { decision })).status, 200);
      }
      // The asker gives up: nobody answers within 50 ms.
      const answer = await askPerson(worker, {
        threadId,
        turnId: 'turn_x',
        workspaceId: ws.id,
        action,
        reason: 'r',
        timeoutMs: 50,
        items,
      });
      assert.equal(answer.outcome, 'timed_out');
      // A late answer is refused and counts nothing.
      assert.equal((await call('POST', `/v1/approvals/${answer.approvalId}`, ws.owner, { decision: 'approve' })).status, 409);
      const want = {
        requested: '4',
        'answered:approved': '1',
        'answered:approved_for_thread': '1',
        'answered:denied': '1',
        'answered:timed_out': '1',
      };
      assert.deepEqual(await approvalsOnce(ws.id, want), want);
      const other = await newWorkspace(call, 'cnt1-other');
      assert.deepEqual(await redis.client().hgetall(analyticsKeys.approvals(other.id, utcDay(Date.now()))), {});
    } finally {
      worker.disconnect();
      proxy.disconnect();
    }
  });

  test('a denial approved for a retry is a denial override', async () => {
    const ws = await newWorkspace(call, 'cnt2');
    const { threadId } = await newThread(call, ws.owner);
    const denial = await recordDenial(redis.client(), {
      thread_id: threadId,
      turn_id: 'turn_x',
      action,
      rationale: 'no',
      source: 'guardian',
    });
    const url = `/v1/threads/${threadId}/denials/${denial.id}/approve`;
    assert.equal((await call('POST', url, ws.owner)).status, 200);
    assert.equal((await call('POST', url, ws.owner)).status, 409, 'a second approval counts nothing');
    assert.deepEqual(await approvalsOnce(ws.id, { denial_overrides: '1' }), { denial_overrides: '1' });
  });

  test('a counter Redis refuses is logged and dropped: the decision is still made and the request still answered', async () => {
    const ws = await newWorkspace(call, 'cnt3');
    const { threadId } = await newThread(call, ws.owner);
    // A user that may decide approvals (which reads the turn's status) but not touch the analytics keys.
    const admin = redis.client();
    await admin.call('ACL', 'SETUSER', 'nocount', 'on', '>nocount-pw', '~paddock:approval:*', '~paddock:thread:*', '~paddock:turn:*', '&*', '+@all');
    const url = new URL(redis.url);
    url.username = 'nocount';
    url.password = 'nocount-pw';
    const c = new Redis(url.toString());
    try {
      const rec = await createApprovalRequest(c, { threadId, turnId: 'turn_x', workspaceId: ws.id, action, reason: 'r' });
      const decided = await decideApproval(c, rec, 'approve', 'owner@cnt3.test');
      assert.notEqual(decided, 'already_decided');
      assert.equal((await loadApproval(c, rec.id))?.status, 'approved');
      assert.deepEqual(await admin.hgetall(analyticsKeys.approvals(ws.id, utcDay(Date.now()))), {});
      // A write that throws before it even returns a promise is caught the same way.
      countSafely('test', () => {
        throw new Error('boom');
      });
      countSafely('test', () => Promise.reject(new Error('boom')));
      await sleep(20);
    } finally {
      c.disconnect();
    }
  });
});
