// The guardian's OpenTelemetry instruments: reviews by outcome and risk, latencies, in flight, shed.
import type { Meter } from '@opentelemetry/api';

export type GuardianMetrics = ReturnType<typeof createMetrics>;

export function createMetrics(meter: Meter) {
  const metrics = {
    reviews: meter.createCounter('guardian.reviews', {
      description: 'Reviews answered, by outcome, risk level and reason',
    }),
    reviewDuration: meter.createHistogram('guardian.review.duration', {
      description: 'Time from receiving a review to answering it',
      unit: 'ms',
    }),
    modelDuration: meter.createHistogram('guardian.model.duration', {
      description: 'Time spent in the model call, all attempts',
      unit: 'ms',
    }),
    inFlight: meter.createUpDownCounter('guardian.model.in_flight', {
      description: 'Model calls in flight on this replica',
    }),
    shed: meter.createCounter('guardian.shed', {
      description: 'Reviews refused at once because they could not be served before their deadline',
    }),
  };
  // Served from the first scrape at zero (not absent until the first shed), so rate() and alerts work.
  metrics.shed.add(0);
  metrics.inFlight.add(0);
  return metrics;
}
