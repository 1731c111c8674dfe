// Usage recorded at the source, against a real Redis and BullMQ: turns accepted through the API carry
// who sent them and through which client; the shared consumer records each end once into its day
// bucket (tokens, CPU, bytes, credits from the operator's prices) with its turn.finished audit record;
// a turn redelivered after its consumer was killed is counted once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { creditsMicro, emptyMeasures, recordTurnEnd, startTurnConsumer, type TurnConsumer, type UsagePricing } from '@paddock/turn-queue';
import { analyticsKeys, FIELD_SEP, keys, type TurnJob, utcDay } from '@paddock/contracts';
import { type RedisServer, startRedis, waitFor } from '@paddock/testing';
import type { Orchestrator } from '../src/orchestrator.ts';
import { clientOf } from '../src/client-family.ts';
import { api, newThread, newWorkspace, start } from './helpers.ts';

const MODEL = 'priced-model';
const PRICING: UsagePricing = {
  retentionDays: 100,
  sandboxCpuSecondCredits: 0.5,
  prices: { [MODEL]: { input_per_million: 2, cached_input_per_million: 1, output_per_million: 8 } },
};

let redis: RedisServer;
let orch: Orchestrator;
const call = api(() => orch);
before(async () => {
  redis = await startRedis({ appendonly: true });
  orch = await start(redis.url, { clusterFile: { model: MODEL } });
});
after(async () => {
  await orch?.close();
  await redis?.stop();
});

type Finished = { action: string; target: string; actor: string; details: Record<string, unknown> };
async function finishedRecords(workspaceId: string, turnId: string): Promise<Finished[]> {
  const entries = await orch.redis.xrange(keys.audit(workspaceId), '-', '+');
  return entries
    .map(([, fields]) => JSON.parse(fields[1]!) as Finished)
    .filter((e) => e.action === 'turn.finished' && e.target === turnId);
}

async function bucket(workspaceId: string): Promise<Record<string, string>> {
  return orch.redis.hgetall(analyticsKeys.usage(workspaceId, utcDay(Date.now())));
}

async function submit(token: string, threadId: string, headers: Record<string, string> = {}) {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { input: 'count me' }, headers);
  assert.equal(r.status, 202, r.body);
  return r.json.id as string;
}

describe('the client a request came through', () => {
  test('X-Paddock-Client when it names a client, else the User-Agent family, else api', () => {
    assert.equal(clientOf({ 'x-paddock-client': 'cli' }), 'cli');
    assert.equal(clientOf({ 'x-paddock-client': 'Console', 'user-agent': 'paddock-cli/1' }), 'console');
    assert.equal(clientOf({ 'x-paddock-client': 'browser', 'user-agent': 'paddock-sdk/0.3 node' }), 'sdk');
    assert.equal(clientOf({ 'user-agent': 'paddock-console/2.1' }), 'console');
    assert.equal(clientOf({ 'user-agent': 'paddock-cli/1.0.0' }), 'cli');
    assert.equal(clientOf({ 'user-agent': 'curl/8.5' }), 'api');
    assert.equal(clientOf({}), 'api');
  });
});

describe('credits from the price table', () => {
  test('cached input at its own price, the rest of the input at the input price, CPU per second', () => {
    const m = { ...emptyMeasures(), input_tokens: 1_000, cached_input_tokens: 400, output_tokens: 100, sandbox_cpu_ms: 2_000 };
    // 600×2 + 400×1 + 100×8 micro-credits for tokens, 2 s × 0.5 credits for CPU.
    assert.equal(creditsMicro(PRICING, MODEL, m), 600 * 2 + 400 + 800 + 1_000_000);
    assert.equal(creditsMicro(PRICING, 'unpriced', m), 1_000_000, 'an unpriced model costs only its CPU');
    assert.equal(creditsMicro(PRICING, 'constructor', m), 1_000_000, 'no prototype key is a price row');
  });
});

describe('usage at turn end', () => {
  test('each turn counted once per member and client, with its turn.finished record', async () => {
    const ws = await newWorkspace(call, 'usage');
    const { threadId } = await newThread(call, ws.owner);
    const jobs: TurnJob[] = [];
    const consumer = await startTurnConsumer({
      redisUrl: redis.url,
      concurrency: 1,
      // BullMQ's stalled check is one per queue per stalledInterval (the lock's half): keep it short
      // here too, or this consumer's default 30 s check holds the next test's redelivery back.
      lockDurationMs: 1_000,
      pricing: PRICING,
      run: async (job, { measures }) => {
        jobs.push(job);
        measures.sandbox_cpu_ms += 1_500;
        measures.egress_bytes += 300;
        measures.output_bytes += 42;
        return { status: 'completed', usage: { input_tokens: 1_000, cached_input_tokens: 250, output_tokens: 50 } };
      },
    });
    try {
      const viaCli = await submit(ws.owner, threadId, { 'x-paddock-client': 'cli' });
      await waitFor(async () => (await finishedRecords(ws.id, viaCli)).length === 1, 10_000, 'cli turn recorded');
      const viaSdk = await submit(ws.owner, threadId, { 'user-agent': 'paddock-sdk/1.2' });
      await waitFor(async () => (await finishedRecords(ws.id, viaSdk)).length === 1, 10_000, 'sdk turn recorded');
      const plain = await submit(ws.owner, threadId);
      await waitFor(async () => (await finishedRecords(ws.id, plain)).length === 1, 10_000, 'api turn recorded');

      const owner = 'owner@usage.test';
      assert.deepEqual(
        jobs.map((j) => [j.created_by, j.client]),
        [[owner, 'cli'], [owner, 'sdk'], [owner, 'api']],
      );
      const b = await bucket(ws.id);
      const credits = String(750 * 2 + 250 + 50 * 8 + 750_000);
      for (const client of ['cli', 'sdk', 'api']) {
        const f = (metric: string) => b[[owner, client, metric].join(FIELD_SEP)];
        assert.deepEqual(
          [f('turns'), f('input_tokens'), f('cached_input_tokens'), f('output_tokens'), f('sandbox_cpu_ms'), f('egress_bytes'), f('output_bytes'), f('credits_micro')],
          ['1', '1000', '250', '50', '1500', '300', '42', credits],
          client,
        );
        assert.equal(f('files_changed'), undefined, 'zero counters are not written');
      }
      const [rec] = await finishedRecords(ws.id, viaCli);
      assert.equal(rec!.actor, 'worker');
      assert.deepEqual(
        {
          created_by: rec!.details['created_by'],
          client: rec!.details['client'],
          model: rec!.details['model'],
          status: rec!.details['status'],
          input_tokens: rec!.details['input_tokens'],
          cached_input_tokens: rec!.details['cached_input_tokens'],
          output_tokens: rec!.details['output_tokens'],
          output_bytes: rec!.details['output_bytes'],
          egress_bytes: rec!.details['egress_bytes'],
          files_changed: rec!.details['files_changed'],
          credits_micro: rec!.details['credits_micro'],
        },
        {
          created_by: owner,
          client: 'cli',
          model: MODEL,
          status: 'completed',
          input_tokens: 1000,
          cached_input_tokens: 250,
          output_tokens: 50,
          output_bytes: 42,
          egress_bytes: 300,
          files_changed: 0,
          credits_micro: Number(credits),
        },
      );
      assert.ok(Date.parse(rec!.details['ended_at'] as string) >= Date.parse(rec!.details['started_at'] as string));
    } finally {
      await consumer.close();
    }
  });

  test('a turn redelivered after its consumer was killed is resumed and counted once; recording it again changes nothing', async () => {
    const ws = await newWorkspace(call, 'redeliver');
    const { threadId } = await newThread(call, ws.owner);
    const child = spawn(process.execPath, [new URL('./fixtures/doomed-consumer.ts', import.meta.url).pathname], {
      env: { ...process.env, REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let rescuer: TurnConsumer | undefined;
    try {
      const lines = createInterface({ input: child.stdout! });
      const turnId = await submit(ws.owner, threadId, { 'x-paddock-client': 'console' });
      const [line] = (await once(lines, 'line')) as [string];
      assert.equal(line, `started ${turnId}`);
      child.kill('SIGKILL');
      await exited;
      // BullMQ redelivers the stalled turn to the next consumer, which resumes it (attempt 2).
      const attempts: number[] = [];
      rescuer = await startTurnConsumer({
        redisUrl: redis.url,
        concurrency: 1,
        lockDurationMs: 1_000,
        pricing: PRICING,
        run: async (_job, { attempt }) => {
          attempts.push(attempt);
          return { status: 'completed', usage: { input_tokens: 7, output_tokens: 3 } };
        },
      });
      await waitFor(async () => (await finishedRecords(ws.id, turnId)).length === 1, 30_000, 'the redelivered turn recorded');
      const [resumed] = await finishedRecords(ws.id, turnId);
      assert.deepEqual(attempts, [2], 'resumed once, as the second attempt');
      assert.equal(resumed!.details['status'], 'completed');
      assert.equal(resumed!.details['input_tokens'], 7);
      const field = (metric: string) => ['owner@redeliver.test', 'console', metric].join(FIELD_SEP);
      assert.equal((await bucket(ws.id))[field('turns')], '1');
      // The same turn's end recorded again (a resumed or late delivery): the marker refuses it whole.
      const job = JSON.parse((await orch.redis.hget(keys.turn(turnId), 'job'))!) as TurnJob;
      const again = await recordTurnEnd(
        orch.redis,
        job,
        { status: 'completed', startedAtMs: Date.now(), endedAtMs: Date.now(), measures: { ...emptyMeasures(), input_tokens: 5 } },
        PRICING,
      );
      assert.equal(again, false);
      const b = await bucket(ws.id);
      assert.equal(b[field('turns')], '1');
      assert.equal(b[field('input_tokens')], '7', 'nothing of the second record was added');
      assert.equal((await finishedRecords(ws.id, turnId)).length, 1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rescuer?.close();
    }
  });
});
