// bench:webhooks — what a webhook costs a producer, and how fast deliveries go. A producer's
// emitWebhookEvent (one XADD to the outbox) is timed against the baseline of the same run, a plain
// appendEvent to a thread's event stream (what every turn already does per event). Then EVENTS
// events are delivered to a loopback receiver, with and without a second webhook whose receiver
// never answers (it holds delivery slots until its timeout): delivered/s and emit-to-receipt latency.
// Everything runs on loopback against a redis-server this bench starts (AOF on).
// Last stdout line: one JSON object.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { appendEvent, emitWebhookEvent } from '@paddock/contracts';
import { startRedis, waitFor } from '@paddock/testing';
import { orchestratorSettings, startOrchestrator } from '@paddock/orchestrator';
import { Redis } from 'ioredis';

const EVENTS = Number(process.env['EVENTS'] ?? 1000);
const PRODUCER_CALLS = Number(process.env['PRODUCER_CALLS'] ?? 5000);
const DEADLINE_MS = 120_000;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function receiver(hang: boolean) {
  const seenAt = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { sent_at: number; n: number } };
      seenAt.set(String(body.data.n), performance.now() - body.data.sent_at);
      if (!hang) res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    seenAt,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function main() {
  const redis = await startRedis({ appendonly: true });
  const operatorKey = 'bench-operator-key';
  const base = orchestratorSettings({ file: {}, orchestrator: { host: '127.0.0.1', port: 0, operatorKeyEnv: 'K' } }, { K: operatorKey });
  const settings = {
    ...base,
    rateLimit: { ...base.rateLimit, requests: 1_000_000, workspaceRequests: 1_000_000, anonymousRequests: 1_000_000 },
    webhooks: { ...base.webhooks, allowPrivateDestinations: true, allowHttp: true, requestTimeoutMs: 30_000 },
  };
  const orch = await startOrchestrator({ redisUrl: redis.url, settings, logger: pino({ level: 'silent' }), dispatch: false, webhookDelivery: true });
  const producer = new Redis(redis.url);
  const out: Record<string, unknown> = { events: EVENTS, producer_calls: PRODUCER_CALLS };
  try {
    const call = async (method: string, url: string, token: string, body: unknown) =>
      (await orch.app.inject({ method: method as 'POST', url, headers: { authorization: `Bearer ${token}` }, payload: body as object })).json();
    const ws = await call('POST', '/v1/workspaces', operatorKey, { name: 'bench', owner_email: 'o@bench.test' });
    const wsId = ws.workspace.id as string;
    const owner = ws.owner_token.secret as string;

    // 1. Producer cost: the outbox XADD against a thread event XADD (no webhook configured yet).
    const time = async (f: () => Promise<unknown>) => {
      const xs: number[] = [];
      for (let i = 0; i < PRODUCER_CALLS; i++) {
        const t = performance.now();
        await f();
        xs.push(performance.now() - t);
      }
      return xs;
    };
    const baseline = await time(() => appendEvent(producer, 'thr_bench', { type: 'turn.started', turn_id: 'turn_bench' }));
    const emit = await time(() => emitWebhookEvent(producer, 'ws_nobody', { type: 'turn.completed', data: {} }));
    Object.assign(out, {
      baseline_append_event_p50_ms: round(pct(baseline, 50), 3),
      baseline_append_event_p99_ms: round(pct(baseline, 99), 3),
      emit_webhook_event_p50_ms: round(pct(emit, 50), 3),
      emit_webhook_event_p99_ms: round(pct(emit, 99), 3),
    });

    // 2. Deliveries to one receiver, then with a hanging second webhook beside it.
    for (const withHanging of [false, true]) {
      const ok = await receiver(false);
      const stuck = withHanging ? await receiver(true) : undefined;
      const hooks = [await call('POST', `/v1/workspaces/${wsId}/webhooks`, owner, { url: ok.url, events: ['turn.completed'] })];
      if (stuck) hooks.push(await call('POST', `/v1/workspaces/${wsId}/webhooks`, owner, { url: stuck.url, events: ['turn.completed'] }));
      const t0 = performance.now();
      for (let n = 0; n < EVENTS; n++) await emitWebhookEvent(producer, wsId, { type: 'turn.completed', data: { n, sent_at: performance.now() } });
      await waitFor(() => ok.seenAt.size >= EVENTS, DEADLINE_MS, 'deliveries');
      const elapsedMs = performance.now() - t0;
      const lat = [...ok.seenAt.values()];
      const tag = withHanging ? 'with_hanging_webhook' : 'one_webhook';
      Object.assign(out, {
        [`${tag}_delivered_per_s`]: round(EVENTS / (elapsedMs / 1000), 1),
        [`${tag}_latency_p50_ms`]: round(pct(lat, 50), 1),
        [`${tag}_latency_p99_ms`]: round(pct(lat, 99), 1),
      });
      for (const h of hooks) await call('DELETE', `/v1/workspaces/${wsId}/webhooks/${h.id}`, owner, undefined);
      await ok.close();
      await stuck?.close();
    }
  } finally {
    producer.disconnect();
    await orch.close();
    await redis.stop();
  }
  console.log(JSON.stringify(out));
}

await main();
