// guardian-lb under a replica's death: three real guardian processes behind a real HAProxy running
// compose's own config (docker/guardian-lb.haproxy.cfg), a fake model answering after 150 ms, steady
// load; one replica is SIGKILLed mid-load. No review fails because of the balancer: every request
// gets an approval (the killed replica's in-flight reviews and new connections are retried elsewhere).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '@paddock/platform';
import { type FakeModel, freePort, type Haproxy, startFakeModel, startGuardianLb, waitFor } from '@paddock/testing';
import { SERVICE_TOKEN } from './helpers.ts';

const MODEL_LATENCY_MS = 150;
const REPLICAS = 3;
const RATE_PER_S = 40;
const DURATION_MS = 6_000;
const KILL_AT_MS = 2_000;

let model: FakeModel;
let lb: Haproxy;
const dir = mkdtempSync(join(tmpdir(), 'paddock-guardian-lb-'));
const replicas: { port: number; proc: ChildProcess }[] = [];

async function startReplica(modelUrl: string): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const config = join(dir, `guardian-${port}.toml`);
  writeFileSync(config, '[guardian]\nmodel = "review-model"\nmax_in_flight = 64\nmax_queue = 1000\nexpected_model_latency_ms = 150\n# This test is about the balancer, on a shared machine: no shedding for event-loop lag.\nmax_event_loop_lag_ms = 60000\n');
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'services/guardian/src/main.ts')], {
    env: {
      ...process.env,
      PADDOCK_CONFIG: config,
      PADDOCK_GUARDIAN_HOST: '127.0.0.1',
      PADDOCK_GUARDIAN_PORT: String(port),
      PADDOCK_GUARDIAN_MODEL_BASE_URL: modelUrl,
      PADDOCK_GUARDIAN_API_KEY: 'test-key',
      PADDOCK_GUARDIAN_SERVICE_TOKEN: SERVICE_TOKEN,
      PADDOCK_LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const replica = { port, proc };
  replicas.push(replica);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 20_000, `guardian on ${port}`);
  return replica;
}

before(async () => {
  model = await startFakeModel();
  model.setHandler(() => {
    model.requests.length = 0;
    return {
      kind: 'json',
      value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' },
      delayMs: MODEL_LATENCY_MS,
    };
  });
  for (let i = 0; i < REPLICAS; i++) await startReplica(model.url);
  lb = await startGuardianLb(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
});
after(async () => {
  await lb?.stop();
  for (const r of replicas) {
    if (r.proc.exitCode === null && r.proc.signalCode === null) {
      r.proc.kill('SIGTERM');
      await once(r.proc, 'exit');
    }
  }
  await model?.close();
  rmSync(dir, { recursive: true, force: true });
});

const review = (i: number) => ({
  review_id: `lb-${process.pid}-${i}`,
  tenant: 'lb-tenant',
  thread_id: `thr-${i % 7}`,
  action: { type: 'exec', argv: ['npm', 'install', `pkg-${i}`], cwd: '/workspace' },
  transcript: [{ role: 'user', content: 'install the packages' }],
  policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'on-request' },
  deadline_ms: 10_000,
});

describe('guardian-lb (HAProxy) when a replica dies under load', () => {
  test('a replica SIGKILLed mid-load: every review is still approved, by the replicas left', { timeout: 120_000 }, async () => {
    const results: { i: number; status: number; outcome?: string; reason?: string; replica?: string; error?: string }[] = [];
    const sends: Promise<void>[] = [];
    const total = Math.round((RATE_PER_S * DURATION_MS) / 1000);
    const killed = replicas[1]!;
    const startedAt = Date.now();
    for (let i = 0; i < total; i++) {
      // Open loop: requests go out on schedule, whatever the answers do.
      const due = startedAt + (i * 1000) / RATE_PER_S;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
      if (i === Math.round((KILL_AT_MS * RATE_PER_S) / 1000)) killed.proc.kill('SIGKILL');
      sends.push(
        fetch(`${lb.url}/v1/reviews`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_TOKEN}` },
          body: JSON.stringify(review(i)),
          signal: AbortSignal.timeout(20_000),
        })
          .then(async (res) => {
            const body = (await res.json()) as { outcome?: string; reason?: string; rationale?: string };
            results.push({
              i,
              status: res.status,
              outcome: body.outcome,
              reason: body.reason ?? body.rationale,
              replica: res.headers.get('x-paddock-guardian-replica') ?? '',
            });
          })
          .catch((err: Error) => {
            results.push({ i, status: 0, error: err.message });
          }),
      );
    }
    await Promise.all(sends);
    assert.notEqual(killed.proc.signalCode, null, 'the replica was killed');
    const failures = results.filter((r) => r.status !== 200 || r.outcome !== 'approved');
    console.log(JSON.stringify({ reviews: results.length, failures: failures.length, sample: failures.slice(0, 3) }));
    assert.equal(results.length, total);
    assert.deepEqual(failures, []);
    // The load really was spread, and the survivors carried the end of it.
    const answeredBy = new Set(results.map((r) => r.replica));
    assert.ok(answeredBy.size >= 2, `answered by ${[...answeredBy].join(', ')}`);
  });
});
