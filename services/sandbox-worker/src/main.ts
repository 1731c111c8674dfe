// Sandbox worker entry: config, Docker, the sandbox image, the worker's parts (lease, reaper,
// network, sandboxes, turn engine) and the health probe; closes on SIGTERM.
import { closeOnSignals, createLogger, ensureSandboxImage, shutdownBudget, startTelemetry } from '@paddock/platform';
import { loadClusterSettings, redisLimits, requireRedisUrl } from '@paddock/config';
import { configureStreamRetention } from '@paddock/contracts';
import Docker from 'dockerode';
import { sandboxWorkerSettings } from './settings.ts';
import { createHealthServer } from './health.ts';
import { startWorker } from './worker.ts';

const logger = createLogger('sandbox-worker');
const settings = loadClusterSettings();
// Every stream this process writes is trimmed to the [redis] bounds.
configureStreamRetention(redisLimits(settings.file));
const config = sandboxWorkerSettings(settings);
const telemetry = await startTelemetry('sandbox-worker');
const docker = new Docker();
const image = config.image ?? (await ensureSandboxImage(docker, 'base', (line) => logger.info(line)));
// A deploy keeps the threads' workspaces: sandboxes outlive this process (adopted, or reaped after the lease).
const worker = await startWorker({
  ...config,
  docker,
  redisUrl: requireRedisUrl(settings),
  image,
  logger,
  keepSandboxesOnClose: true,
});

const health = createHealthServer([
  { name: 'redis', check: () => worker.redis.ping() },
  { name: 'docker', check: () => docker.ping() },
]);
await new Promise<void>((resolve) =>
  health.listen(settings.sandboxWorker.port, settings.sandboxWorker.host, resolve),
);
logger.info(
  { port: settings.sandboxWorker.port, workerId: worker.workerId, network: worker.network.name },
  'sandbox worker ready',
);

// Drain within the one budget ([cluster] shutdown_grace_ms): no new turns; running ones finish
// until the drain point, then go back to the queue to be resumed by another worker.
const budget = shutdownBudget(settings.shutdownGraceMs);
closeOnSignals(logger, [
  { name: 'worker', close: () => worker.close(budget.drainMs) },
  { name: 'health', close: () => new Promise<void>((resolve) => health.close(() => resolve())) },
  { name: 'telemetry', close: () => telemetry.shutdown() },
], budget.deadlineMs);
