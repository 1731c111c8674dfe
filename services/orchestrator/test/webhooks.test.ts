// Webhooks against a real Redis under the cluster's ACL and receivers this test starts on loopback:
// each event arrives once and its signature verifies; a failing receiver gets retries with backoff;
// a hanging one holds back nothing else; the delivery log reads through the API; another workspace's
// webhook is 404 and a member 403; tenant URLs that point inside the cluster are refused.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { emitWebhookEvent, keys, WEBHOOK_EVENTS } from '@paddock/contracts';
import { type RedisServer, startRedis, waitFor } from '@paddock/testing';
import { Redis } from 'ioredis';
import type { Orchestrator } from '../src/orchestrator.ts';
import { backoffMs } from '../src/webhooks/delivery.ts';
import { api, newWorkspace, start, testSettings } from './helpers.ts';

type Received = { headers: IncomingHttpHeaders; body: string };

/** A loopback receiver; `answer` decides each response (status, or 'hang' to never answer). */
async function receiver(answer: (n: number) => number | 'hang' = () => 200) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const a = answer(got.length);
      if (a === 'hang') return; // never answers; the delivery's timeout ends it
      res.writeHead(a).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    got,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What a receiver does: recompute the HMAC over "<t>.<body>" with the secret, compare in constant time. */
function verify(secret: string, r: Received): boolean {
  const header = String(r.headers['paddock-signature'] ?? '');
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const want = createHmac('sha256', secret).update(`${m[1]}.${r.body}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}

let redis: RedisServer;
let orch: Orchestrator;
let worker: Redis;
const call = api(() => orch);
const loopbackPolicy = {
  ...testSettings().webhooks,
  allowPrivateDestinations: true,
  allowHttp: true,
  initialBackoffMs: 20,
  maxBackoffMs: 80,
  requestTimeoutMs: 400,
  maxAttempts: 3,
};

before(async () => {
  redis = await startRedis({ acl: true, appendonly: true });
  orch = await start(redis.urlFor('orchestrator'), { dispatch: false, settings: { webhooks: loopbackPolicy } });
  // Producers write the outbox as the worker's Redis user (the ACL lets it do only that here).
  worker = new Redis(redis.urlFor('sandbox-worker'));
});
after(async () => {
  worker?.disconnect();
  await orch?.close();
  await redis?.stop();
});

// The orchestrator in these tests runs no dispatcher but does run the delivery loop.
async function restart(webhookDelivery: boolean, operatorKey?: string) {
  await orch.close();
  orch = await start(redis.urlFor('orchestrator'), {
    dispatch: false,
    webhookDelivery,
    settings: { webhooks: loopbackPolicy, ...(operatorKey ? { operatorKey } : {}) },
  });
}

async function createHook(token: string, ws: string, url: string, events: readonly string[] = WEBHOOK_EVENTS) {
  const r = await call('POST', `/v1/workspaces/${ws}/webhooks`, token, { url, events });
  assert.equal(r.status, 201, r.body);
  return r.json as { id: string; secret: string };
}

const deliveries = async (token: string, ws: string, hook: string) =>
  (await call('GET', `/v1/workspaces/${ws}/webhooks/${hook}/deliveries`, token)).json.items as {
    status: string;
    attempts: number;
    type: string;
    event_id: string;
    attempt_log: { status_code?: number; error?: string }[];
  }[];

describe('webhooks', () => {
  before(() => restart(true));

  test('each event arrives once with a valid signature; the log shows it delivered; the secret is sealed at rest', async () => {
    const ws = await newWorkspace(call, 'wh1');
    const rx = await receiver();
    try {
      const hook = await createHook(ws.owner, ws.id, rx.url);
      assert.match(hook.secret, /^whsec_/);
      // Listed without its secret; Redis holds it only sealed.
      const listed = await call('GET', `/v1/workspaces/${ws.id}/webhooks`, ws.owner);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.json.items.map((h: { id: string }) => h.id), [hook.id]);
      assert.ok(!JSON.stringify(listed.json).includes(hook.secret));
      assert.ok(!JSON.stringify(await redis.client().hgetall(keys.webhooks.ofWorkspace(ws.id))).includes(hook.secret));

      for (const type of WEBHOOK_EVENTS) await emitWebhookEvent(worker, ws.id, { type, data: { turn_id: `turn_${type}` } });
      await waitFor(() => rx.got.length >= WEBHOOK_EVENTS.length, 10_000, 'four deliveries');
      await sleep(300); // a duplicate would arrive within this
      assert.equal(rx.got.length, WEBHOOK_EVENTS.length);
      const bodies = rx.got.map((r) => JSON.parse(r.body) as { id: string; type: string; workspace_id: string; data: { turn_id: string } });
      assert.deepEqual(bodies.map((b) => b.type).sort(), [...WEBHOOK_EVENTS].sort());
      assert.equal(new Set(bodies.map((b) => b.id)).size, WEBHOOK_EVENTS.length);
      for (const [i, r] of rx.got.entries()) {
        assert.ok(verify(hook.secret, r), 'signature verifies');
        assert.ok(!verify('whsec_wrong', r), 'another secret does not verify');
        assert.equal(r.headers['paddock-event'], bodies[i]!.type);
        assert.equal(bodies[i]!.workspace_id, ws.id);
      }
      const log = await deliveries(ws.owner, ws.id, hook.id);
      assert.equal(log.length, WEBHOOK_EVENTS.length);
      assert.ok(log.every((d) => d.status === 'delivered' && d.attempts === 1 && d.attempt_log[0]?.status_code === 200));
    } finally {
      await rx.close();
    }
  });

  test('only subscribed events, and only the workspace’s own, are delivered', async () => {
    const ws = await newWorkspace(call, 'wh2');
    const other = await newWorkspace(call, 'wh2-other');
    const rx = await receiver();
    try {
      const hook = await createHook(ws.owner, ws.id, rx.url, ['turn.failed']);
      await emitWebhookEvent(worker, ws.id, { type: 'turn.completed', data: {} });
      await emitWebhookEvent(worker, other.id, { type: 'turn.failed', data: {} });
      await emitWebhookEvent(worker, ws.id, { type: 'turn.failed', data: { n: 1 } });
      await waitFor(() => rx.got.length >= 1, 10_000, 'one delivery');
      await sleep(300);
      assert.equal(rx.got.length, 1);
      assert.deepEqual(JSON.parse(rx.got[0]!.body).data, { n: 1 });
      assert.equal((await deliveries(ws.owner, ws.id, hook.id)).length, 1);
    } finally {
      await rx.close();
    }
  });

  test('a receiver that fails (500, then ok) gets a retry of the same event; one that always fails is given up', async () => {
    const ws = await newWorkspace(call, 'wh3');
    const flaky = await receiver((n) => (n === 1 ? 500 : 200));
    const broken = await receiver(() => 503);
    try {
      const a = await createHook(ws.owner, ws.id, flaky.url, ['review.denied']);
      const b = await createHook(ws.owner, ws.id, broken.url, ['review.denied']);
      await emitWebhookEvent(worker, ws.id, { type: 'review.denied', data: { rationale: 'no' } });
      await waitFor(async () => (await deliveries(ws.owner, ws.id, a.id))[0]?.status === 'delivered', 10_000, 'retried and delivered');
      assert.equal(flaky.got.length, 2);
      assert.equal(JSON.parse(flaky.got[0]!.body).id, JSON.parse(flaky.got[1]!.body).id, 'a retry carries the same event id');
      assert.ok(flaky.got.every((r) => verify(a.secret, r)));
      const [da] = await deliveries(ws.owner, ws.id, a.id);
      assert.deepEqual(da!.attempt_log.map((x) => x.status_code), [500, 200]);
      await waitFor(async () => (await deliveries(ws.owner, ws.id, b.id))[0]?.status === 'failed', 10_000, 'given up');
      const [db] = await deliveries(ws.owner, ws.id, b.id);
      assert.equal(db!.attempts, loopbackPolicy.maxAttempts);
      assert.equal(broken.got.length, loopbackPolicy.maxAttempts);
    } finally {
      await flaky.close();
      await broken.close();
    }
  });

  test('a hanging receiver times out and holds back no other delivery', async () => {
    const ws = await newWorkspace(call, 'wh4');
    const hang = await receiver(() => 'hang');
    const ok = await receiver();
    try {
      const h = await createHook(ws.owner, ws.id, hang.url, ['turn.completed']);
      await createHook(ws.owner, ws.id, ok.url, ['turn.completed']);
      await emitWebhookEvent(worker, ws.id, { type: 'turn.completed', data: {} });
      await waitFor(() => ok.got.length === 1, 10_000, 'the other receiver got it');
      await waitFor(
        async () => ((await deliveries(ws.owner, ws.id, h.id))[0]?.attempt_log[0]?.error ?? '').includes('timed out'),
        10_000,
        'the hanging attempt timed out',
      );
    } finally {
      await hang.close();
      await ok.close();
    }
  });

  test("another workspace's webhook is 404; a member is 403; deleting stops deliveries", async () => {
    const ws = await newWorkspace(call, 'wh5');
    const other = await newWorkspace(call, 'wh5-other');
    const rx = await receiver();
    try {
      const hook = await createHook(ws.owner, ws.id, rx.url);
      for (const [method, path] of [
        ['GET', `/v1/workspaces/${other.id}/webhooks/${hook.id}`],
        ['GET', `/v1/workspaces/${other.id}/webhooks/${hook.id}/deliveries`],
        ['DELETE', `/v1/workspaces/${other.id}/webhooks/${hook.id}`],
        ['GET', `/v1/workspaces/${ws.id}/webhooks/${hook.id}`], // the right id in the wrong workspace's path
        ['GET', `/v1/workspaces/${ws.id}/webhooks`],
      ] as const) {
        const r = await call(method, path, other.owner);
        assert.equal(r.status, 404, `${method} ${path}`);
      }
      const member = await call('POST', `/v1/workspaces/${ws.id}/members`, ws.owner, { email: 'dev@wh5.test', role: 'member', can_create_tokens: false });
      assert.equal(member.status, 201, member.body);
      const devToken = member.json.access_token.secret as string;
      for (const [method, path, body] of [
        ['GET', `/v1/workspaces/${ws.id}/webhooks`, undefined],
        ['POST', `/v1/workspaces/${ws.id}/webhooks`, { url: rx.url, events: ['turn.failed'] }],
        ['GET', `/v1/workspaces/${ws.id}/webhooks/${hook.id}/deliveries`, undefined],
        ['DELETE', `/v1/workspaces/${ws.id}/webhooks/${hook.id}`, undefined],
      ] as const) {
        const r = await call(method, path, devToken, body);
        assert.equal(r.status, 403, `${method} ${path}`);
        assert.equal(r.json.error.code, 'forbidden');
      }
      const del = await call('DELETE', `/v1/workspaces/${ws.id}/webhooks/${hook.id}`, ws.owner);
      assert.equal(del.status, 200);
      assert.equal((await call('GET', `/v1/workspaces/${ws.id}/webhooks/${hook.id}`, ws.owner)).status, 404);
      await emitWebhookEvent(worker, ws.id, { type: 'turn.completed', data: {} });
      await sleep(300);
      assert.equal(rx.got.length, 0);
    } finally {
      await rx.close();
    }
  });

  test('backoff doubles per attempt, up to the cap, with half of each step jittered', () => {
    const low = [1, 2, 3, 4, 5].map((n) => backoffMs(n, 100, 500, () => 0));
    const high = [1, 2, 3, 4, 5].map((n) => backoffMs(n, 100, 500, () => 1));
    assert.deepEqual(low, [50, 100, 200, 250, 250]);
    assert.deepEqual(high, [100, 200, 400, 500, 500]);
  });

  test('a secret sealed under another operator key fails its delivery at once, signing nothing', async () => {
    const ws = await newWorkspace(call, 'wh7');
    const rx = await receiver();
    try {
      const hook = await createHook(ws.owner, ws.id, rx.url, ['turn.failed']);
      await restart(true, 'a-rotated-operator-key');
      await emitWebhookEvent(worker, ws.id, { type: 'turn.failed', data: {} });
      await waitFor(async () => (await deliveries(ws.owner, ws.id, hook.id))[0]?.status === 'failed', 10_000, 'failed');
      assert.match((await deliveries(ws.owner, ws.id, hook.id))[0]!.attempt_log[0]!.error!, /cannot be unsealed/);
      assert.equal(rx.got.length, 0);
    } finally {
      await restart(true);
      await rx.close();
    }
  });

  test('bad bodies are 400 naming the field', async () => {
    const ws = await newWorkspace(call, 'wh6');
    for (const [body, field] of [
      [{ url: 'http://127.0.0.1:1/x', events: [] }, 'events'],
      [{ url: 'http://127.0.0.1:1/x', events: ['turn.exploded'] }, 'events.0'],
      [{ url: 'ftp://example.com/x', events: ['turn.failed'] }, 'url'],
      [{ url: 'http://user:pw@example.com/x', events: ['turn.failed'] }, 'url'],
    ] as const) {
      const r = await call('POST', `/v1/workspaces/${ws.id}/webhooks`, ws.owner, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(String(r.json.error.field), new RegExp(`^${field.replace('.', '[.\\[]?')}`), JSON.stringify(r.json));
    }
  });
});

describe('webhook destinations (the operator default: https, public addresses only)', () => {
  let strict: Orchestrator;
  const scall = api(() => strict);
  before(async () => {
    // The only delivery loop now is the strict one (they share the outbox's consumer group).
    await restart(false);
    strict = await start(redis.urlFor('orchestrator'), { dispatch: false, webhookDelivery: true });
  });
  after(() => strict?.close());

  test('http, loopback, private, link-local and IPv6 loopback URLs are refused at creation, naming the field', async () => {
    const ws = await newWorkspace(scall, 'whs1');
    for (const url of [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://127.1/hook',
      'https://10.0.0.8/hook',
      'https://192.168.1.1/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://0.0.0.0/hook',
    ]) {
      const r = await scall('POST', `/v1/workspaces/${ws.id}/webhooks`, ws.owner, { url, events: ['turn.failed'] });
      assert.equal(r.status, 400, url);
      assert.equal(r.json.error.field, 'url', url);
    }
  });

  test('a name that resolves to loopback is refused at delivery: no connection is made', async () => {
    const ws = await newWorkspace(scall, 'whs2');
    const rx = await receiver();
    const port = new URL(rx.url).port;
    try {
      // Created as a name (names are checked where they resolve, at each attempt).
      const created = await scall('POST', `/v1/workspaces/${ws.id}/webhooks`, ws.owner, {
        url: `https://localhost:${port}/hook`,
        events: ['turn.failed'],
      });
      assert.equal(created.status, 201, created.body);
      await emitWebhookEvent(worker, ws.id, { type: 'turn.failed', data: {} });
      await waitFor(
        async () => {
          const log = (await scall('GET', `/v1/workspaces/${ws.id}/webhooks/${created.json.id}/deliveries`, ws.owner)).json.items;
          return /loopback/.test(log[0]?.attempt_log[0]?.error ?? '');
        },
        10_000,
        'the attempt was refused',
      );
      assert.equal(rx.got.length, 0);
    } finally {
      await rx.close();
    }
  });
});
