// Sandbox worker entry: config, Redis, Docker, the sandbox network, the worker lease, the reaper,
// the sandbox manager (warm pool) and the health probe; closes on SIGTERM.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  closeOnSignals,
  createLogger,
  loadClusterSettings,
  requireRedisUrl,
  startTelemetry,
} from '@paddock/shared';
import { ensureSandboxImage } from '@paddock/shared/images.ts';
import { createSandboxNetwork, removeSandboxNetwork, sandboxKeys } from '@paddock/shared/sandbox/index.ts';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { prepareAgentRuntime } from './agent-runtime.ts';
import { sandboxRuntimeConfig } from './config.ts';
import { createHealthServer } from './health.ts';
import { holdWorkerLease } from './lease.ts';
import { startReaper } from './reaper.ts';
import { SandboxManager } from './sandbox-manager.ts';

const logger = createLogger('sandbox-worker');
const settings = loadClusterSettings();
const config = sandboxRuntimeConfig(settings);
const telemetry = await startTelemetry('sandbox-worker');
const redis = new Redis(requireRedisUrl(settings), { maxRetriesPerRequest: null });
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
const docker = new Docker();
const workerId = `wkr-${hostname().slice(0, 20)}-${randomBytes(6).toString('hex')}`;

const lease = await holdWorkerLease(redis, workerId, config.leaseMs, (err) =>
  logger.error({ err: err.message }, 'worker lease refresh failed'),
);
const reaper = startReaper({ docker, redis, intervalMs: config.reapIntervalMs, logger });
const runtime = await prepareAgentRuntime();
const image = config.image ?? (await ensureSandboxImage(docker, 'base', (line) => logger.info(line)));
const network = await createSandboxNetwork(docker, { workerId, proxyPort: config.proxyPort });
await redis.set(sandboxKeys.network(network.name), JSON.stringify(network));
const manager = new SandboxManager({
  docker,
  redis,
  workerId,
  network,
  runtime,
  defaultShape: { image, limits: config.limits },
  warmPoolSize: config.warmPoolSize,
  idleTtlMs: config.idleTtlMs,
  execTimeoutMs: config.execTimeoutMs,
  maxOutputBytes: config.maxOutputBytes,
  logger,
});
manager.start();

const health = createHealthServer([
  { name: 'redis', check: () => redis.ping() },
  { name: 'docker', check: () => docker.ping() },
]);
await new Promise<void>((resolve) =>
  health.listen(settings.sandboxWorker.port, settings.sandboxWorker.host, resolve),
);
logger.info(
  { port: settings.sandboxWorker.port, workerId, network: network.name, gateway: network.gateway },
  'sandbox worker ready',
);

closeOnSignals(logger, [
  { name: 'health', close: () => new Promise<void>((resolve) => health.close(() => resolve())) },
  { name: 'sandboxes', close: () => manager.close() },
  { name: 'reaper', close: () => reaper.stop() },
  {
    name: 'network',
    close: async () => {
      await redis.del(sandboxKeys.network(network.name));
      await removeSandboxNetwork(docker, network.name);
    },
  },
  { name: 'lease', close: () => lease.stop() },
  { name: 'redis', close: () => redis.quit() },
  { name: 'telemetry', close: () => telemetry.shutdown() },
]);
