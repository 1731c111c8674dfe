// End to end (real Redis under the ACL, each service its own user; Docker, orchestrator, guardian,
// worker; fake models only): a turn whose command the guardian reviews, and one whose command a person
// approves through the API, land in the workspace's day buckets where the review and the approval
// happened, and Redis refused none of those writes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { analyticsKeys, utcDay } from '@paddock/contracts';
import { apiOf, type Cluster, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;

before(async () => {
  c = await startCluster('e2e-analytics-counters', { redisAcl: true });
  call = apiOf(c);
  c.guardianModel.setHandler(() => ({
    kind: 'json',
    value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' },
  }));
});
after(() => c?.close());

/** The bucket hash once it holds `want` (counters are written in the background; bounded wait). */
async function bucketOnce(key: string, want: Record<string, string>): Promise<Record<string, string>> {
  let got: Record<string, string> = {};
  for (let i = 0; i < 100; i++) {
    got = await c.client.hgetall(key);
    if (Object.entries(want).every(([k, v]) => got[k] === v)) return got;
    await sleep(50);
  }
  return got;
}

async function submit(token: string, threadId: string, argv: string[]): Promise<string> {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { commands: [{ argv }] });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.id as string;
}

describe('analytics counters end to end', () => {
  test('a turn with a guardian-reviewed command: the day bucket holds the review, its outcome, risk and latency', async () => {
    const ws = await newWorkspace(c, 'an-reviewed');
    // A prompt rule under on-request: the guardian reviews it (as in Codex, `untrusted` goes to a person).
    const threadId = await newThread(c, ws.owner, {
      sandbox_mode: 'workspace-write',
      approval_policy: 'on-request',
      approvals_reviewer: 'auto_review',
      rules: [{ pattern: ['touch'], decision: 'prompt' }],
    });
    const turnId = await submit(ws.owner, threadId, ['touch', 'reviewed']);
    const end = await waitForTurnEnd(c, threadId, turnId, 120_000);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    const key = analyticsKeys.reviews(ws.id, utcDay(Date.now()));
    const got = await bucketOnce(key, { count: '1', 'outcome:approved': '1', 'risk:low': '1' });
    assert.equal(got['count'], '1', JSON.stringify(got));
    assert.equal(got['outcome:approved'], '1');
    assert.equal(got['risk:low'], '1');
    const latency = Object.entries(got).filter(([k]) => k.startsWith('lat:'));
    assert.deepEqual(
      latency.map(([, v]) => v),
      ['1'],
      'one latency sample',
    );
    assert.ok((await c.client.ttl(key)) > 0, 'the bucket expires');
  });

  test('a command a person approves through the API: requested and answered:approved in the day bucket', async () => {
    const ws = await newWorkspace(c, 'an-approved');
    const threadId = await newThread(c, ws.owner, {
      sandbox_mode: 'workspace-write',
      approval_policy: 'untrusted',
      approvals_reviewer: 'user',
    });
    const turnId = await submit(ws.owner, threadId, ['touch', 'approved']);
    let approvalId: string | undefined;
    for (let i = 0; i < 200 && !approvalId; i++) {
      const pending = await call('GET', `/v1/threads/${threadId}/approvals?status=pending`, ws.owner);
      approvalId = pending.json.items?.[0]?.id;
      if (!approvalId) await sleep(50);
    }
    assert.ok(approvalId, 'the turn asked a person');
    assert.equal((await call('POST', `/v1/approvals/${approvalId}`, ws.owner, { decision: 'approve' })).status, 200);
    const end = await waitForTurnEnd(c, threadId, turnId, 120_000);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    const want = { requested: '1', 'answered:approved': '1' };
    assert.deepEqual(await bucketOnce(analyticsKeys.approvals(ws.id, utcDay(Date.now())), want), want);
  });

  test('Redis refused no command or key to any service', async () => {
    const log = (await c.client.call('ACL', 'LOG')) as unknown[][];
    assert.deepEqual(log, [], JSON.stringify(log));
  });
});
