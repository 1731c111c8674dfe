import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { createLogger, forWork } from '../src/logger.ts';
import { startTelemetry } from '../src/telemetry.ts';

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
