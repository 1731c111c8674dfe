// Orchestrator entry: config, Redis, the HTTP app; closes on SIGTERM.
import {
  closeOnSignals,
  createLogger,
  loadClusterSettings,
  requireRedisUrl,
  startTelemetry,
} from '@paddock/shared';
import { Redis } from 'ioredis';
import { buildApp } from './app.ts';

const logger = createLogger('orchestrator');
const settings = loadClusterSettings();
const telemetry = await startTelemetry('orchestrator');
// enableOfflineQueue false: with Redis down a request fails at once (503) instead of hanging.
const redis = new Redis(requireRedisUrl(settings), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
const app = await buildApp({ redis, logger });
await app.listen({ host: settings.orchestrator.host, port: settings.orchestrator.port });

closeOnSignals(logger, [
  { name: 'http', close: () => app.close() },
  { name: 'redis', close: () => redis.quit() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
]);
