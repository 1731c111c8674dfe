// The guardian's OpenTelemetry output: reviews by outcome and risk, latency histograms, shed, and a
// span per review — read back through the real SDK's in-memory reader and exporter.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startFakeModel } from '@paddock/testing';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import { buildApp } from '../src/app.ts';
import { answer, postReview, reviewRequest, settingsFor, silentLogger } from './helpers.ts';

class CollectingReader extends MetricReader {
  protected override async onForceFlush() {}
  protected override async onShutdown() {}
}

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('metrics and spans per review', async () => {
  const model = await startFakeModel();
  cleanups.push(() => model.close());
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  const app = await buildApp({
    logger: silentLogger,
    settings: settingsFor(model.url, { maxInFlight: 1, maxQueue: 0 }),
    meter: meterProvider.getMeter('test'),
    tracer: tracerProvider.getTracer('test'),
  });
  cleanups.push(() => app.close());

  model.script(answer({ risk_level: 'medium' }, { delayMs: 200 }));
  const slow = postReview(app, reviewRequest());
  await new Promise((r) => setTimeout(r, 50));
  const shed = await postReview(app, reviewRequest({ action: { type: 'exec', argv: ['ls'], cwd: '/' } }));
  assert.equal(shed.body.reason, 'overloaded');
  assert.equal((await slow).body.outcome, 'approved');

  const { resourceMetrics } = await reader.collect();
  const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  const byName = (name: string) => metrics.find((m) => m.descriptor.name === name);
  const reviews = byName('guardian.reviews')!.dataPoints.map((d) => ({
    attrs: d.attributes,
    value: d.value,
  }));
  assert.ok(
    reviews.some(
      (r) => r.attrs['outcome'] === 'approved' && r.attrs['risk_level'] === 'medium' && r.value === 1,
    ),
    JSON.stringify(reviews),
  );
  assert.ok(reviews.some((r) => r.attrs['outcome'] === 'timed_out' && r.attrs['reason'] === 'overloaded'));
  assert.equal(byName('guardian.shed')!.dataPoints[0]!.value, 1);
  const histogram = byName('guardian.review.duration')!.dataPoints.map(
    (d) => (d.value as { count: number }).count,
  );
  assert.equal(
    histogram.reduce((a, b) => a + b, 0),
    2,
  );
  assert.equal((byName('guardian.model.duration')!.dataPoints[0]!.value as { count: number }).count, 1);
  assert.equal(byName('guardian.model.in_flight')!.dataPoints[0]!.value, 0);

  const finished = spans.getFinishedSpans().filter((s) => s.name === 'guardian.review');
  assert.equal(finished.length, 2);
  assert.deepEqual(finished.map((s) => s.attributes['paddock.outcome']).sort(), ['approved', 'timed_out']);
});
