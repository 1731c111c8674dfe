// Prometheus /metrics on every service's operator listener, after a little traffic: the test process
// starts the real telemetry SDK (startTelemetry, the Prometheus reader), runs the whole cluster, sends
// one scripted turn (a fetch the policy allows, one it does not, which the guardian reviews and
// denies), then scrapes the orchestrator's metrics port, the guardian's port, the proxy's operator
// listener and the worker's health server. The services share this process, so each endpoint serves
// the same registry: the test shows each endpoint answers the README's metrics in the text format,
// and that the listeners tenants reach (the API port, a sandbox network's proxy listener) do not.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTelemetry, type Telemetry } from '@paddock/platform';
import { createHealthServer } from '@paddock/sandbox-worker';
import type { ScriptedReply } from '@paddock/testing';
import type { Server } from 'node:http';
import { type Cluster, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let telemetry: Telemetry;
let health: Server;
let healthUrl = '';

before(async () => {
  telemetry = await startTelemetry('e2e-metrics', { OTEL_METRICS_EXPORTER: 'prometheus' });
  c = await startCluster('e2e-metrics');
  c.guardianModel.setHandler((req): ScriptedReply => {
    const deny = JSON.stringify(req.body).includes(c.forbidden.name);
    return {
      kind: 'json',
      value: {
        risk_level: deny ? 'high' : 'low',
        user_authorization: 'unknown',
        outcome: deny ? 'deny' : 'allow',
        rationale: deny ? 'the forbidden host is not needed' : 'routine',
      },
    };
  });
  // The worker's health server, as main.ts starts it.
  const worker = c.workers[0]!;
  health = createHealthServer([{ name: 'redis', check: () => worker.redis.ping() }]);
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => health?.close(r));
  await c?.close();
  await telemetry?.shutdown().catch(() => undefined);
});

/**
 * The README's metrics table, as the exporter names them: dots → underscores, counters end in _total;
 * the unit (ms) is not a suffix but a `# UNIT` line.
 */
const DOCUMENTED = {
  orchestrator: ['paddock_turns_queue_depth', 'paddock_redis_memory_used_bytes', 'paddock_redis_memory_max_bytes'],
  sandboxWorker: ['paddock_turn_queue_wait', 'paddock_turn_duration'],
  guardian: [
    'guardian_reviews_total',
    'guardian_review_duration',
    'guardian_model_duration',
    'guardian_model_in_flight',
    'guardian_shed_total',
  ],
  egressProxy: ['egress_decisions_total'],
};

const HISTOGRAMS = ['paddock_turn_queue_wait', 'paddock_turn_duration', 'guardian_review_duration', 'guardian_model_duration'];

async function scrape(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** The Prometheus text format: `# TYPE name kind` for a metric, and its samples. */
function typeOf(body: string, name: string): string | undefined {
  return new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(body)?.[1];
}

function samples(body: string, name: string): string[] {
  return body.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test('after one turn, every service serves the documented metrics on GET /metrics', async () => {
  const ws = await newWorkspace(c, 'metrics');
  const threadId = await newThread(c, ws.owner, {
    sandbox_mode: 'workspace-write',
    approval_policy: 'on-request',
    approvals_reviewer: 'auto_review',
    network: { mode: 'allowlist', allowed_domains: [c.allowed.name], allowed_ports: [c.allowed.port, c.forbidden.port] },
  });
  const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/turns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ws.owner}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      commands: [
        { argv: ['curl', '-sS', `http://${c.allowed.name}:${c.allowed.port}/`] },
        { argv: ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${c.forbidden.name}:${c.forbidden.port}/`] },
      ],
    }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 202);
  const turnId = ((await res.json()) as { id: string }).id;
  const end = await waitForTurnEnd(c, threadId, turnId);
  assert.equal(end.type, 'turn.completed', JSON.stringify(end));

  const endpoints = {
    orchestrator: `http://127.0.0.1:${c.orchestrator.metricsPort}/metrics`,
    guardian: `${c.guardianUrl}/metrics`,
    egressProxy: `http://127.0.0.1:${c.proxyPort}/metrics`,
    sandboxWorker: `${healthUrl}/metrics`,
  };
  for (const [service, url] of Object.entries(endpoints)) {
    const scraped = await scrape(url);
    assert.equal(scraped.status, 200, `${service}: ${scraped.body.slice(0, 200)}`);
    assert.match(scraped.type, /^text\/plain/, service);
    for (const names of Object.values(DOCUMENTED)) {
      for (const name of names) {
        const kind = HISTOGRAMS.includes(name) ? 'histogram' : name.endsWith('_total') ? 'counter' : 'gauge';
        assert.equal(typeOf(scraped.body, name), kind, `${service} serves ${name} as a ${kind}\n${scraped.body}`);
      }
    }
    const body = scraped.body;
    // The traffic shows in the labels the README names.
    assert.ok(samples(body, 'paddock_turns_queue_depth').some((l) => l.includes('stage="queued"')), body);
    assert.ok(samples(body, 'paddock_turn_duration_count').some((l) => l.includes('outcome="completed"')), body);
    for (const h of HISTOGRAMS) assert.match(body, new RegExp(`^# UNIT ${h} ms$`, 'm'), h);
    const decisions = samples(body, 'egress_decisions_total');
    assert.ok(decisions.some((l) => l.includes('decision="allow"')), decisions.join('\n'));
    assert.ok(decisions.some((l) => l.includes('decision="deny"')), decisions.join('\n'));
    const reviews = samples(body, 'guardian_reviews_total');
    assert.ok(reviews.some((l) => l.includes('outcome="denied"') && l.includes('risk_level="high"')), reviews.join('\n'));
    // In flight is back to zero once the review is answered.
    assert.ok(samples(body, 'guardian_model_in_flight').every((l) => / 0$/.test(l)), body);
  }
});

test('every metric the Grafana dashboard queries is served under that name', async () => {
  const dashboard = readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'paddock.json'), 'utf8');
  const exprs = [...dashboard.matchAll(/"expr": "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
  const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:paddock|guardian|egress)_[a-z_]+)\{/g)].map((m) => m[1]!)));
  assert.ok(queried.size >= 7, [...queried].join(', '));
  const body = (await scrape(`${c.guardianUrl}/metrics`)).body;
  for (const series of queried) {
    const metric = series.replace(/_(bucket|count|sum)$/, '');
    assert.ok(typeOf(body, metric), `the dashboard queries ${series}; /metrics serves no ${metric}`);
  }
});

test('the listeners tenants and sandboxes reach do not serve /metrics', async () => {
  // The public API port: not found (the orchestrator serves metrics on its own port only).
  const api = await scrape(`${c.apiUrl}/metrics`);
  assert.equal(api.status, 404, api.body);
  assert.doesNotMatch(api.body, /# TYPE/);
  // The proxy's listener on the worker's sandbox network: a request that is not absolute-form is refused.
  const gateway = c.workers[0]!.network.gateway;
  const sandboxSide = await scrape(`http://${gateway}:${c.proxyPort}/metrics`);
  assert.equal(sandboxSide.status, 400, sandboxSide.body);
  assert.doesNotMatch(sandboxSide.body, /# TYPE/);
});
