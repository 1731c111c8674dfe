// Sandbox worker entry: config, Redis, Docker, the health probe; closes on SIGTERM.
import {
  closeOnSignals,
  createLogger,
  loadClusterSettings,
  requireRedisUrl,
  startTelemetry,
} from '@paddock/shared';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { createHealthServer } from './health.ts';

const logger = createLogger('sandbox-worker');
const settings = loadClusterSettings();
const telemetry = await startTelemetry('sandbox-worker');
const redis = new Redis(requireRedisUrl(settings), { maxRetriesPerRequest: null });
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
const docker = new Docker();

const health = createHealthServer([
  { name: 'redis', check: () => redis.ping() },
  { name: 'docker', check: () => docker.ping() },
]);
await new Promise<void>((resolve) =>
  health.listen(settings.sandboxWorker.port, settings.sandboxWorker.host, resolve),
);
logger.info({ port: settings.sandboxWorker.port }, 'sandbox worker health probe listening');

closeOnSignals(logger, [
  { name: 'health', close: () => new Promise<void>((resolve) => health.close(() => resolve())) },
  { name: 'redis', close: () => redis.quit() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
]);
