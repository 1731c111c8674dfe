// Guardian entry: config, the HTTP app; closes on SIGTERM.
import { closeOnSignals, createLogger, shutdownBudget, startTelemetry } from '@paddock/platform';
import { loadClusterSettings } from '@paddock/config';
import { buildApp } from './app.ts';
import { guardianSettings } from './settings.ts';

const logger = createLogger('guardian');
const cluster = loadClusterSettings();
const settings = guardianSettings(cluster);
const telemetry = await startTelemetry('guardian');
const app = await buildApp({ logger, settings, tracer: telemetry.tracer, meter: telemetry.meter });
await app.listen({ host: settings.host, port: settings.port });
logger.info(
  { model: settings.model, baseUrl: settings.baseUrl, maxInFlight: settings.maxInFlight },
  'guardian ready',
);

// app.close() lets reviews in flight answer; the one budget ([cluster] shutdown_grace_ms) bounds it.
closeOnSignals(logger, [
  { name: 'http', close: () => app.close() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
], shutdownBudget(cluster.shutdownGraceMs).deadlineMs);
