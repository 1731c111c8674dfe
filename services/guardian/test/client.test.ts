// The shared guardian client (packages/contracts/src/review/client.ts) against a real guardian on
// loopback and the fake model: verdicts pass through; every other answer fails closed.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { createGuardianClient } from '@paddock/contracts';
import { type FakeModel, freePort, startFakeModel } from '@paddock/testing';
import type { FastifyInstance } from 'fastify';
import { answer, guardianFor, reviewRequest, SERVICE_TOKEN } from './helpers.ts';

let model: FakeModel;
let app: FastifyInstance;
let guardianUrl: string;
before(async () => {
  model = await startFakeModel();
  app = await guardianFor(model.url);
  await app.listen({ host: '127.0.0.1', port: 0 });
  guardianUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
after(async () => {
  await app?.close();
  await model?.close();
});

test('a verdict passes through', async () => {
  model.script(answer({ risk_level: 'medium' }));
  const client = createGuardianClient({ url: guardianUrl, serviceToken: SERVICE_TOKEN });
  const req = reviewRequest({ deadline_ms: 3000 });
  const v = await client.review(req);
  assert.equal(v.outcome, 'approved');
  assert.equal(v.review_id, req.review_id);
  assert.equal(v.risk_level, 'medium');
  assert.ok(v.model_latency_ms !== undefined);
  assert.equal(model.requests.length, 1);
});

test('denied and critical verdicts come through as they are', async () => {
  model.script(answer({ risk_level: 'critical', user_authorization: 'high' }));
  const v = await createGuardianClient({ url: guardianUrl, serviceToken: SERVICE_TOKEN }).review(reviewRequest());
  assert.equal(v.outcome, 'denied');
  assert.equal(v.reason, 'critical_risk');
});

test('the guardian timing out answers timed_out, within the grace period', async () => {
  model.script({ kind: 'hang' });
  const startedAt = Date.now();
  const v = await createGuardianClient({ url: guardianUrl, serviceToken: SERVICE_TOKEN }).review(reviewRequest({ deadline_ms: 300 }));
  assert.equal(v.outcome, 'timed_out');
  assert.equal(v.reason, 'deadline');
  assert.ok(Date.now() - startedAt < 300 + 250, 'answered within deadline + grace');
});

test('an expired caller deadline (deadline_at_ms in the past) is timed_out with no model call', async () => {
  const calls = model.requests.length;
  const v = await createGuardianClient({ url: guardianUrl, serviceToken: SERVICE_TOKEN }).review(
    reviewRequest({ deadline_ms: 5000, deadline_at_ms: Date.now() - 1 }),
  );
  assert.equal(v.outcome, 'timed_out');
  assert.equal(model.requests.length, calls);
});

test('connection refused → failed (connection_refused)', async () => {
  const port = await freePort();
  const v = await createGuardianClient({ url: `http://127.0.0.1:${port}`, serviceToken: SERVICE_TOKEN }).review(reviewRequest());
  assert.equal(v.outcome, 'failed');
  assert.equal(v.reason, 'connection_refused');
});

test('a guardian that accepts and never answers → timed_out at deadline + grace', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const { port } = silent.address() as { port: number };
    const startedAt = Date.now();
    const v = await createGuardianClient({ url: `http://127.0.0.1:${port}`, serviceToken: SERVICE_TOKEN, graceMs: 50 }).review(
      reviewRequest({ deadline_ms: 200 }),
    );
    assert.equal(v.outcome, 'timed_out');
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= 240 && elapsed < 250 + 100, `gave up after ${elapsed} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test('a 400 from the guardian → failed (rejected) naming the field', async () => {
  const bad = { ...reviewRequest(), action: { type: 'exec', cwd: '/' } } as never;
  const v = await createGuardianClient({ url: guardianUrl, serviceToken: SERVICE_TOKEN }).review(bad);
  assert.equal(v.outcome, 'failed');
  assert.equal(v.reason, 'rejected');
  assert.match(v.rationale, /action\.argv/);
});

test('a caller abort → aborted', async () => {
  model.script({ kind: 'hang' });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const v = await createGuardianClient({ url: guardianUrl, serviceToken: SERVICE_TOKEN }).review(reviewRequest({ deadline_ms: 2000 }), {
    signal: controller.signal,
  });
  assert.equal(v.outcome, 'aborted');
});

test('a client holding the wrong service credential gets failed (rejected), never a verdict; the model is not called', async () => {
  const calls = model.requests.length;
  const v = await createGuardianClient({ url: guardianUrl, serviceToken: `${SERVICE_TOKEN}-stale` }).review(reviewRequest());
  assert.equal(v.outcome, 'failed');
  assert.equal(v.reason, 'rejected');
  assert.match(v.rationale, /401/);
  assert.equal(model.requests.length, calls);
});
