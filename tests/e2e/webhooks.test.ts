// Webhooks on the whole cluster (real Redis under its ACL, Docker, worker, guardian, proxy): one turn
// with two approvals (one approved, one denied) and one interrupted turn raise approval.requested,
// review.denied, turn.completed and turn.failed; a receiver gets each once, signed; another receiver
// that never answers holds back no turn (each ends and the event stream shows it).
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@paddock/testing';
import { apiOf, type Cluster, jsonlEvents, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

type Received = { headers: IncomingHttpHeaders; body: string };

async function receiver(hang: boolean) {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (!hang) res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/paddock`,
    got,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function verify(secret: string, r: Received): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(r.headers['paddock-signature'] ?? ''));
  return !!m && timingSafeEqual(createHmac('sha256', secret).update(`${m[1]}.${r.body}`).digest(), Buffer.from(m[2]!, 'hex'));
}

let c: Cluster;
let call: ReturnType<typeof apiOf>;
let good: Awaited<ReturnType<typeof receiver>>;
let stuck: Awaited<ReturnType<typeof receiver>>;

before(async () => {
  good = await receiver(false);
  stuck = await receiver(true);
  const base = (await import('@paddock/orchestrator')).orchestratorSettings(
    { file: {}, orchestrator: { host: '127.0.0.1', port: 0, operatorKeyEnv: 'X' } },
    {},
  ).webhooks;
  c = await startCluster('e2e-webhooks', {
    redisAcl: true,
    // The receivers are on loopback: only an operator may allow that (the default refuses it).
    orchestrator: { webhooks: { ...base, allowPrivateDestinations: true, allowHttp: true, requestTimeoutMs: 60_000, initialBackoffMs: 100 } },
  });
  call = apiOf(c);
});
after(async () => {
  await c?.close();
  await good?.close();
  await stuck?.close();
});

async function decidePending(token: string, threadId: string, decision: string) {
  let pending: { id: string }[] = [];
  await waitFor(
    async () => {
      pending = (await call('GET', `/v1/threads/${threadId}/approvals?status=pending`, token)).json.items ?? [];
      return pending.length === 1;
    },
    20_000,
    'a pending approval',
  );
  const r = await call('POST', `/v1/approvals/${pending[0]!.id}`, token, { decision });
  assert.equal(r.status, 200, JSON.stringify(r.json));
}

describe('webhooks on the cluster', () => {
  test('each event reaches the receiver once, signed; a receiver that hangs holds back no turn', async () => {
    const ws = await newWorkspace(c, 'hooks');
    const all = ['approval.requested', 'turn.completed', 'turn.failed', 'review.denied'];
    const created = await call('POST', `/v1/workspaces/${ws.id}/webhooks`, ws.owner, { url: good.url, events: all });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const secret = created.json.secret as string;
    const hanging = await call('POST', `/v1/workspaces/${ws.id}/webhooks`, ws.owner, { url: stuck.url, events: all });
    assert.equal(hanging.status, 201);

    const threadId = await newThread(c, ws.owner, {
      sandbox_mode: 'workspace-write',
      approval_policy: 'on-request',
      approvals_reviewer: 'user',
    });
    const turn = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, {
      commands: [
        { argv: ['bash', '-c', 'echo yes'], escalate: { justification: 'first' } },
        { argv: ['bash', '-c', 'echo no'], escalate: { justification: 'second' } },
      ],
    });
    assert.equal(turn.status, 202);
    await decidePending(ws.owner, threadId, 'approve');
    await decidePending(ws.owner, threadId, 'deny');
    const end = await waitForTurnEnd(c, threadId, turn.json.id);
    assert.equal(end.type, 'turn.completed');
    // The stream shows the end although the hanging receiver has not answered a single delivery.
    const events = await jsonlEvents(c, ws.owner, threadId);
    assert.ok(events.some((e) => e.type === 'turn.completed'));

    // A second turn, interrupted: turn.failed.
    const long = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { commands: [{ argv: ['sleep', '30'] }] });
    assert.equal(long.status, 202);
    await waitFor(
      async () => (await call('GET', `/v1/threads/${threadId}/turns/${long.json.id}`, ws.owner)).json.status === 'running',
      30_000,
      'the long turn runs',
    );
    assert.equal((await call('POST', `/v1/threads/${threadId}/turns/${long.json.id}/interrupt`, ws.owner)).status, 202);
    assert.equal((await waitForTurnEnd(c, threadId, long.json.id)).type, 'turn.failed');

    const want = ['approval.requested', 'approval.requested', 'review.denied', 'turn.completed', 'turn.failed'];
    await waitFor(() => good.got.length >= want.length, 20_000, 'every event delivered');
    await sleep(500); // a duplicate would arrive within this
    const bodies = good.got.map((r) => JSON.parse(r.body) as { id: string; type: string; data: Record<string, unknown> });
    assert.deepEqual(bodies.map((b) => b.type).sort(), want.sort());
    assert.equal(new Set(bodies.map((b) => b.id)).size, want.length, 'each event once');
    assert.ok(good.got.every((r) => verify(secret, r)), 'every signature verifies');
    assert.deepEqual(
      bodies.filter((b) => b.type.startsWith('turn.')).map((b) => b.data['turn_id']).sort(),
      [turn.json.id, long.json.id].sort(),
    );
    // The hanging receiver was asked (and is still holding its first request).
    assert.ok(stuck.got.length >= 1);
    const log = await call('GET', `/v1/workspaces/${ws.id}/webhooks/${created.json.id}/deliveries`, ws.owner);
    assert.equal(log.status, 200);
    assert.equal(log.json.items.length, want.length);
    assert.ok(log.json.items.every((d: { status: string }) => d.status === 'delivered'));
  });
});
