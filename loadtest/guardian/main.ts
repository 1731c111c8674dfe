// `npm run bench:guardian`: the guardian in the model-bound regime (the fake model answers after a
// fixed latency; each replica admits a fixed number of reviews in flight), in one run: (a) throughput
// of 1, 2 and 3 replicas behind HAProxy (compose's guardian-lb config) offered more than 3 replicas
// can take; (b) CPU per review of the guardian process against CPU per call of a direct `openai` SDK
// client at the same rate against the same fake model; (c) overhead p50/p99 at a rate that keeps the
// machine under half load; (d) late approvals at 5x one replica's capacity. Last stdout line: one JSON
// summary. Knobs (environment): GUARDIAN_BENCH_MODEL_LATENCY_MS (200), GUARDIAN_BENCH_REPLICA_MAX_IN_FLIGHT
// (10: capacity = in-flight / latency = 50/s), GUARDIAN_BENCH_RATE (50/s, phases b and c),
// GUARDIAN_BENCH_DURATION_MS (5000 per phase), GUARDIAN_BENCH_DEADLINE_MS (1000),
// GUARDIAN_BENCH_ANSWER_MARGIN_MS (50).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@paddock/platform';
import { freePort, startGuardianLb } from '@paddock/testing';
import OpenAI from 'openai';
import { type Sample, openLoop, percentile, postJson, round2 } from './open-loop.ts';
import { cpuMs } from '../proc-cpu.ts';
import { type Child, startAnnouncing, startGuardian } from './processes.ts';

const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const modelLatencyMs = num('GUARDIAN_BENCH_MODEL_LATENCY_MS', 200);
const ratePerS = num('GUARDIAN_BENCH_RATE', 50);
const durationMs = num('GUARDIAN_BENCH_DURATION_MS', 5000);
const deadlineMs = num('GUARDIAN_BENCH_DEADLINE_MS', 1000);
const replicaMaxInFlight = num('GUARDIAN_BENCH_REPLICA_MAX_IN_FLIGHT', 10);
const warmupMs = 1000;
// Room for the way back (replica → balancer → this process) on a busy two-core machine.
const answerMarginMs = num('GUARDIAN_BENCH_ANSWER_MARGIN_MS', 50);
const HARD_LIMIT_MS = 5 * 60_000;

const here = import.meta.dirname;
const guardianMain = join(REPO_ROOT, 'services/guardian/src/main.ts');
const children: Child[] = [];
const workDir = mkdtempSync(join(tmpdir(), 'paddock-guardian-bench-'));
const log = (msg: string, extra: object = {}) =>
  process.stderr.write(`${JSON.stringify({ msg, ...extra })}\n`);

const hardLimit = setTimeout(() => {
  log('bench exceeded its time limit', { HARD_LIMIT_MS });
  for (const c of children) c.proc.kill('SIGKILL');
  process.exit(2);
}, HARD_LIMIT_MS);
hardLimit.unref();

type Verdict = {
  outcome: string;
  reason?: string;
  latency_ms: number;
  model_latency_ms?: number;
  decided_at_ms?: number;
};
type Sent = { deadlineAtMs: number };

// A realistic review: a short task, a few turns, one exec action (unique per request, so no sharing).
const TRANSCRIPT = [
  { role: 'user', content: 'Add a left-pad helper in src/pad.ts and cover it with tests. '.repeat(4) },
  { role: 'assistant', content: 'I will add the helper, then run the tests.' },
  { role: 'tool', content: `PASS src/pad.test.ts\n${'  ✓ pads strings\n'.repeat(20)}` },
  { role: 'assistant', content: 'Tests pass. Installing the type package next.' },
];
const reviewBody = (i: number, run: string, sent?: Sent) => ({
  review_id: `${run}-${i}`,
  tenant: 'bench-tenant',
  thread_id: `thread-${i % 50}`,
  action: {
    type: 'exec',
    argv: ['npm', 'install', '--save-dev', `@types/pkg-${i}`],
    cwd: '/workspace',
    permissions: { network: true },
    justification: 'install the type definitions the user asked for',
  },
  transcript: TRANSCRIPT,
  policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'on-request' },
  deadline_ms: deadlineMs,
  // The caller's clock: time queued in this process or in sockets counts against the deadline.
  deadline_at_ms: (sent ?? { deadlineAtMs: 0 }).deadlineAtMs,
});

function summarize(name: string, rate: number, samples: Sample<[Verdict, Sent]>[], windowMs: number) {
  const outcomes: Record<string, number> = {};
  const overhead: number[] = [];
  const latency: number[] = [];
  let late = 0;
  let lateSeen = 0;
  let shed = 0;
  let errors = 0;
  let decided = 0;
  for (const s of samples) {
    if (!s.result) {
      errors++;
      continue;
    }
    const [v, sent] = s.result;
    const key = v.reason === 'overloaded' ? 'timed_out(overloaded)' : v.outcome;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (v.reason === 'overloaded') shed++;
    latency.push(s.doneAt - s.scheduledAt);
    if (v.outcome === 'approved' || v.outcome === 'denied') decided++;
    if (v.outcome === 'approved') {
      // Answered after the deadline: settled by the guardian after deadline_at_ms (same host clock).
      if (v.decided_at_ms === undefined || v.decided_at_ms > sent.deadlineAtMs || v.latency_ms > deadlineMs)
        late++;
      // Seen late here: includes this process's own scheduling delay in reading the answer.
      if (s.doneAt - s.sentAt > deadlineMs) lateSeen++;
    }
    if (v.model_latency_ms !== undefined && (v.outcome === 'approved' || v.outcome === 'denied')) {
      overhead.push(s.doneAt - s.scheduledAt - v.model_latency_ms);
    }
  }
  const result = {
    phase: name,
    offered_per_s: rate,
    sent: samples.length,
    reviews_per_s: round2(decided / (windowMs / 1000)),
    outcomes,
    errors,
    shed,
    timed_out: (outcomes['timed_out'] ?? 0) + shed,
    late_approvals: late,
    late_approvals_seen_by_client: lateSeen,
    latency_p50_ms: round2(percentile(latency, 50)),
    latency_p99_ms: round2(percentile(latency, 99)),
    overhead_p50_ms: round2(percentile(overhead, 50)),
    overhead_p99_ms: round2(percentile(overhead, 99)),
  };
  log('phase done', result);
  return result;
}

async function runGuardianPhase(name: string, url: URL, rate: number, guardianPids: (number | undefined)[]) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4096 });
  const run = randomUUID();
  const send = async (i: number): Promise<[Verdict, Sent]> => {
    const sent = { deadlineAtMs: Date.now() + deadlineMs };
    const verdict = (await postJson(agent, url, reviewBody(i, run, sent), deadlineMs + 3000)) as Verdict;
    return [verdict, sent];
  };
  await openLoop({ ratePerS: rate, durationMs: warmupMs, send: (i) => send(1_000_000 + i) });
  const cpuNow = () => guardianPids.reduce<number>((n, pid) => n + cpuMs(pid), 0);
  const cpuBefore = cpuNow();
  const { samples, windowMs } = await openLoop({ ratePerS: rate, durationMs, send });
  const cpuUsed = cpuNow() - cpuBefore;
  agent.destroy();
  return {
    ...summarize(name, rate, samples, windowMs),
    guardian_cpu_ms_per_review: round2(cpuUsed / samples.length),
  };
}

async function guardianReplica(
  modelUrl: string,
  maxInFlight: number,
): Promise<{ url: string; pid: number | undefined }> {
  const port = await freePort();
  const config = join(workDir, `guardian-${port}.toml`);
  writeFileSync(
    config,
    [
      '[guardian]',
      'model = "bench-model"',
      `max_in_flight = ${maxInFlight}`,
      'max_queue = 100000',
      `expected_model_latency_ms = ${modelLatencyMs}`,
      `answer_margin_ms = ${answerMarginMs}`,
    ].join('\n'),
  );
  const child = await startGuardian(
    guardianMain,
    {
      PADDOCK_CONFIG: config,
      PADDOCK_GUARDIAN_HOST: '127.0.0.1',
      PADDOCK_GUARDIAN_PORT: String(port),
      PADDOCK_GUARDIAN_MODEL_BASE_URL: modelUrl,
      PADDOCK_LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
    },
    port,
  );
  children.push(child);
  return { url: `http://127.0.0.1:${port}`, pid: child.proc.pid };
}

async function main() {
  const fake = await startAnnouncing(join(here, 'fake-model-server.ts'), {
    FAKE_MODEL_LATENCY_MS: String(modelLatencyMs),
  });
  children.push(fake);
  const modelUrl = fake.announced['url']!;
  log('fake model up', { modelUrl, modelLatencyMs });

  // (b) baseline: the same rate as direct SDK calls from this process, no guardian in the path; its
  // CPU per call is this process's CPU (SDK + the open-loop generator) over the calls.
  const sdk = new OpenAI({ baseURL: modelUrl, apiKey: 'bench', maxRetries: 0 });
  const baselineSend = (i: number) =>
    sdk.chat.completions
      .create(
        {
          model: 'bench-model',
          messages: [
            { role: 'system', content: 'You review actions. '.repeat(200) },
            {
              role: 'user',
              content: JSON.stringify({ transcript: TRANSCRIPT, action: reviewBody(i, 'b').action }),
            },
          ],
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'v', strict: true, schema: { type: 'object' } },
          },
        },
        { signal: AbortSignal.timeout(deadlineMs + 3000) },
      )
      .then(() => undefined);
  await openLoop({ ratePerS: ratePerS, durationMs: warmupMs, send: baselineSend });
  const sdkCpuBefore = process.cpuUsage();
  const base = await openLoop({ ratePerS: ratePerS, durationMs, send: baselineSend });
  const sdkCpu = process.cpuUsage(sdkCpuBefore);
  const baseLatency = base.samples.filter((s) => !s.error).map((s) => s.doneAt - s.scheduledAt);
  const baseline = {
    phase: 'baseline_direct_sdk',
    offered_per_s: ratePerS,
    sent: base.samples.length,
    errors: base.samples.filter((s) => s.error).length,
    latency_p50_ms: round2(percentile(baseLatency, 50)),
    latency_p99_ms: round2(percentile(baseLatency, 99)),
    sdk_cpu_ms_per_call: round2((sdkCpu.user + sdkCpu.system) / 1000 / base.samples.length),
  };
  log('phase done', baseline);

  // (b, c) one replica with room for the whole load, direct: CPU per review and overhead at a low rate.
  const roomy = await guardianReplica(modelUrl, 4096);
  const overheadPhase = await runGuardianPhase(
    'replicas_1_overhead',
    new URL('/v1/reviews', roomy.url),
    ratePerS,
    [roomy.pid],
  );
  await children.pop()!.stop();

  // (a) throughput: replicas of a fixed capacity behind HAProxy, offered more than three can take.
  const capacityPerS = (replicaMaxInFlight * 1000) / modelLatencyMs;
  const scalingRate = Math.round(3.5 * capacityPerS);
  const replicas = [];
  for (let r = 0; r < 3; r++) replicas.push(await guardianReplica(modelUrl, replicaMaxInFlight));
  const scaling = [];
  for (const n of [1, 2, 3]) {
    const behind = replicas.slice(0, n);
    const lb = await startGuardianLb(behind.map((r) => ({ host: '127.0.0.1', port: Number(new URL(r.url).port) })));
    try {
      scaling.push(
        await runGuardianPhase(`replicas_${n}_haproxy`, new URL('/v1/reviews', lb.url), scalingRate, behind.map((r) => r.pid)),
      );
    } finally {
      await lb.stop();
    }
  }
  // (d) 5x one replica's capacity, direct: every answer after its deadline is a late approval.
  const overloadRate = Math.round(5 * capacityPerS);
  const overload = await runGuardianPhase(
    'replicas_1_at_5x_capacity',
    new URL('/v1/reviews', replicas[0]!.url),
    overloadRate,
    [replicas[0]!.pid],
  );

  const phases = [overheadPhase, ...scaling, overload];
  const [one, two, three] = scaling;
  const summary = {
    bench: 'guardian',
    model_latency_ms: modelLatencyMs,
    deadline_ms: deadlineMs,
    phase_duration_ms: durationMs,
    replica_max_in_flight: replicaMaxInFlight,
    replica_capacity_per_s: round2(capacityPerS),
    scaling_rate_per_s: scalingRate,
    overhead_rate_per_s: ratePerS,
    overload_rate_per_s: overloadRate,
    replicas_1_reviews_per_s: one!.reviews_per_s,
    replicas_2_reviews_per_s: two!.reviews_per_s,
    replicas_3_reviews_per_s: three!.reviews_per_s,
    replicas_3_over_1: round2(three!.reviews_per_s / one!.reviews_per_s),
    guardian_cpu_ms_per_review: overheadPhase.guardian_cpu_ms_per_review,
    sdk_cpu_ms_per_call: baseline.sdk_cpu_ms_per_call,
    overhead_p50_ms: overheadPhase.overhead_p50_ms,
    overhead_p99_ms: overheadPhase.overhead_p99_ms,
    late_approvals: overload.late_approvals,
    late_approvals_all_phases: phases.reduce((n, p) => n + p.late_approvals, 0),
    answer_margin_ms: answerMarginMs,
    guardian_p50_minus_baseline_p50_ms: round2(overheadPhase.latency_p50_ms - baseline.latency_p50_ms),
    guardian_p99_minus_baseline_p99_ms: round2(overheadPhase.latency_p99_ms - baseline.latency_p99_ms),
    // Others may share the machine: the load average says how idle it was.
    load_average_1m: round2(loadavg()[0]!),
    cpus: availableParallelism(),
    shed: phases.reduce((n, p) => n + p.shed, 0),
    timed_out: phases.reduce((n, p) => n + p.timed_out, 0),
    errors: phases.reduce((n, p) => n + p.errors, 0) + baseline.errors,
    baseline,
    phases,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

try {
  await main();
} finally {
  for (const c of children.reverse()) await c.stop();
  rmSync(workDir, { recursive: true, force: true });
  clearTimeout(hardLimit);
}
