import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { createLogger, forWork } from '../src/logger.ts';
import { metricExportersOf, serveMetrics, startTelemetry } from '../src/telemetry.ts';

test('without OTEL_EXPORTER_OTLP_ENDPOINT telemetry is a no-op that still hands out a tracer', async () => {
  const t = await startTelemetry('unit', {});
  const span = t.tracer.startSpan('noop');
  assert.equal(span.isRecording(), false);
  span.end();
  await t.shutdown();
});

test('with an OTLP endpoint, spans are exported over OTLP/HTTP to it', async () => {
  const received: string[] = [];
  const collector = createServer((req, res) => {
    received.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const { port } = collector.address() as { port: number };
  try {
    const t = await startTelemetry('unit', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    // The SDK reads the endpoint from process.env too; the test passes it explicitly through both.
    const span = t.tracer.startSpan('exported');
    assert.equal(span.isRecording(), true);
    span.end();
    await t.shutdown();
    assert.ok(received.includes('/v1/traces'), `collector saw ${JSON.stringify(received)}`);
  } finally {
    collector.close();
  }
});

test('log lines carry the service and the work id; secrets are redacted', () => {
  const lines: string[] = [];
  const logger = createLogger('unit', 'info', { write: (line: string) => lines.push(line) });
  forWork(logger, { jobId: 'turn_123', missing: undefined }).info(
    { req: { headers: { authorization: 'Bearer secret-token' } }, token: 'tok_secret' },
    'hello',
  );
  const entry = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  assert.equal(entry['service'], 'unit');
  assert.equal(entry['jobId'], 'turn_123');
  assert.equal('missing' in entry, false);
  assert.doesNotMatch(lines.join(''), /secret-token|tok_secret/);
});

/** GET /metrics through serveMetrics on a loopback server the test starts. */
async function scrapeServed(): Promise<{ status: number; body: string }> {
  const server = createServer((req, res) => serveMetrics(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } finally {
    server.close();
  }
}

test('OTEL_METRICS_EXPORTER: prometheus by default, otlp beside it with an endpoint, none, and a clear error', () => {
  assert.deepEqual(metricExportersOf({}), ['prometheus']);
  assert.deepEqual(metricExportersOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), ['prometheus', 'otlp']);
  assert.deepEqual(metricExportersOf({ OTEL_METRICS_EXPORTER: ' otlp , prometheus' }), ['otlp', 'prometheus']);
  assert.deepEqual(metricExportersOf({ OTEL_METRICS_EXPORTER: 'none' }), []);
  assert.throws(() => metricExportersOf({ OTEL_METRICS_EXPORTER: 'prometheus,statsd' }), /OTEL_METRICS_EXPORTER: unsupported "statsd"/);
});

test('without an endpoint, GET /metrics serves the meter in Prometheus text, named by OTEL_SERVICE_NAME', async () => {
  process.env['OTEL_RESOURCE_ATTRIBUTES'] = 'deployment.environment=test-metrics';
  try {
    const t = await startTelemetry('unit', { OTEL_SERVICE_NAME: 'unit-renamed' });
    try {
      t.meter.createCounter('unit.requests', { description: 'requests' }).add(2, { route: 'a' });
      const { status, body } = await scrapeServed();
      assert.equal(status, 200);
      assert.match(body, /^# TYPE unit_requests_total counter$/m);
      assert.match(body, /^unit_requests_total\{route="a",otel_scope_name="paddock\.unit"\} 2$/m);
      assert.match(body, /^target_info\{.*service_name="unit-renamed".*\} 1$/m);
      assert.match(body, /deployment_environment="test-metrics"/);
    } finally {
      await t.shutdown();
    }
    // Shut down: nothing is registered any more.
    assert.equal((await scrapeServed()).status, 404);
  } finally {
    delete process.env['OTEL_RESOURCE_ATTRIBUTES'];
  }
});

test('OTEL_METRICS_EXPORTER=none: no /metrics (404 naming the variable)', async () => {
  const t = await startTelemetry('unit', { OTEL_METRICS_EXPORTER: 'none' });
  try {
    const { status, body } = await scrapeServed();
    assert.equal(status, 404);
    assert.match(body, /OTEL_METRICS_EXPORTER/);
  } finally {
    await t.shutdown();
  }
});

test('with an endpoint, metrics go over OTLP and are served on /metrics beside it', async () => {
  const received: string[] = [];
  const collector = createServer((req, res) => {
    received.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const { port } = collector.address() as { port: number };
  try {
    const t = await startTelemetry('unit', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    t.meter.createCounter('unit.both').add(1);
    const { status, body } = await scrapeServed();
    assert.equal(status, 200);
    assert.match(body, /^unit_both_total\{otel_scope_name="paddock\.unit"\} 1$/m);
    await t.shutdown(); // flushes the OTLP reader
    assert.ok(received.includes('/v1/metrics'), `collector saw ${JSON.stringify(received)}`);
  } finally {
    collector.close();
  }
});
