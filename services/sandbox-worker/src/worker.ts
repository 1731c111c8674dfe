// The sandbox worker's parts, started together: the worker lease, the reaper, its sandbox network
// (recorded in Redis, where the egress proxy discovers it), the sandbox manager with its warm pool,
// the teardown of deleted threads' sandboxes, and the turn consumer running the turn engine.
// main.ts wires it from the cluster file; the end-to-end tests start it in-process with their own
// labels and budgets.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ModelProviders } from '@paddock/config';
import { createGuardianClient, sandboxKeys } from '@paddock/contracts';
import { createSandboxNetwork, removeSandboxNetwork } from './sandbox-network.ts';
import { startTurnConsumer, type TurnConsumer, type UsagePricing } from '@paddock/turn-queue';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { prepareAgentRuntime } from './agent-runtime.ts';
import type { SandboxLimits } from './container-spec.ts';
import { holdWorkerLease } from './lease.ts';
import { startReaper } from './reaper.ts';
import { SandboxManager } from './sandbox-manager.ts';
import { startThreadTeardown } from './thread-teardown.ts';
import type { OutputCaps } from './turn/item-events.ts';
import { createTurnRunner } from './turn/run-turn.ts';
import { effectiveDiskQuotaMb, loopDevicesUnavailable } from './workspace-disk.ts';

export type WorkerOptions = {
  docker: Docker;
  redisUrl: string;
  image: string;
  limits: SandboxLimits;
  proxyPort: number;
  guardianUrl: string;
  guardianServiceToken: string;
  concurrency: number;
  warmPoolSize: number;
  leaseMs: number;
  reapIntervalMs: number;
  idleTtlMs: number;
  execTimeoutMs: number;
  maxOutputBytes: number;
  reviewDeadlineMs: number;
  approvalTimeoutMs: number;
  outputThrottleMs: number;
  /** BullMQ job lock; a dead worker's turn is taken over (and failed) after about this long. */
  turnLockMs: number;
  logger: Logger;
  /** Extra labels on everything created (tests scope their resources with theirs). */
  scope?: Record<string, string>;
  /** Images a sandbox may be created from besides `image`; unset: the built sandbox images. */
  allowedImages?: readonly string[];
  /** The worker's own files (workspace disk images); needed when `limits.workspaceDiskMb` > 0. */
  dataDir?: string;
  /** The operator set the disk quota: missing loop devices stop the worker instead of dropping it. */
  workspaceDiskExplicit?: boolean;
  /** Command output kept in the thread's events; unset: the defaults. */
  outputCaps?: OutputCaps;
  workerId?: string;
  /** The cluster file's model providers (clusterModelProviders): turn records name one, never carry one. */
  modelProviders: ModelProviders;
  env?: NodeJS.ProcessEnv;
  /** [analytics] prices and retention for each turn's usage record; unset: no credits, 100 days. */
  pricing?: UsagePricing;
  /**
   * Leave the threads' sandboxes (and the network they are on) when closing, for the next worker to
   * adopt or the reaper to remove once this worker's lease lapses; main.ts sets it (a deploy keeps
   * workspaces). Unset: close destroys what this worker owns (the tests' in-process workers).
   */
  keepSandboxesOnClose?: boolean;
};

export type RunningWorker = {
  workerId: string;
  redis: Redis;
  manager: SandboxManager;
  consumer: TurnConsumer;
  network: { name: string; gateway: string };
  /**
   * Graceful stop, in order: no new turns; running ones may finish within `drainMs` (then they are
   * handed back to the queue, to be resumed elsewhere); sandboxes (unless kept), network, lease.
   */
  close: (drainMs?: number) => Promise<void>;
};

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const workerId = o.workerId ?? `wkr-${hostname().slice(0, 20)}-${randomBytes(6).toString('hex')}`;
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', (err) => o.logger.warn({ err: err.message }, 'redis error'));
  const lease = await holdWorkerLease(redis, workerId, o.leaseMs, (err) =>
    o.logger.error({ err: err.message }, 'worker lease refresh failed'),
  );
  const workspaceDiskMb = await effectiveDiskQuotaMb(
    o.limits.workspaceDiskMb ?? 0,
    o.workspaceDiskExplicit ?? false,
    o.logger,
    async () => (o.dataDir ? loopDevicesUnavailable(o.dataDir) : 'no data dir'),
  );
  const reaper = startReaper({
    docker: o.docker,
    redis,
    intervalMs: o.reapIntervalMs,
    logger: o.logger,
    scope: o.scope,
    dataDir: o.dataDir,
  });
  const runtime = await prepareAgentRuntime();
  const network = await createSandboxNetwork(o.docker, { workerId, proxyPort: o.proxyPort, scope: o.scope });
  await redis.set(sandboxKeys.network(network.name), JSON.stringify(network));
  const defaultShape = { image: o.image, limits: { ...o.limits, workspaceDiskMb } };
  const manager = new SandboxManager({
    docker: o.docker,
    redis,
    workerId,
    network,
    runtime,
    defaultShape,
    warmPoolSize: o.warmPoolSize,
    idleTtlMs: o.idleTtlMs,
    execTimeoutMs: o.execTimeoutMs,
    maxOutputBytes: o.maxOutputBytes,
    scope: o.scope,
    ...(o.allowedImages ? { allowedImages: o.allowedImages } : {}),
    dataDir: o.dataDir,
    logger: o.logger,
  });
  manager.start();
  // A deleted thread's sandbox goes at once (not after the idle TTL).
  const teardown = await startThreadTeardown({ redis, redisUrl: o.redisUrl, manager, workerId, logger: o.logger });
  const consumer = await startTurnConsumer({
    redisUrl: o.redisUrl,
    concurrency: o.concurrency,
    logger: o.logger,
    lockDurationMs: o.turnLockMs,
    ...(o.pricing ? { pricing: o.pricing } : {}),
    run: createTurnRunner({
      manager,
      guardian: createGuardianClient({ url: o.guardianUrl, serviceToken: o.guardianServiceToken }),
      defaultShape,
      reviewDeadlineMs: o.reviewDeadlineMs,
      approvalTimeoutMs: o.approvalTimeoutMs,
      outputThrottleMs: o.outputThrottleMs,
      ...(o.outputCaps ? { outputCaps: o.outputCaps } : {}),
      setupTimeoutMs: o.execTimeoutMs,
      modelProviders: o.modelProviders,
      env: o.env,
    }),
  });
  return {
    workerId,
    redis,
    manager,
    consumer,
    network,
    close: async (drainMs?: number) => {
      await consumer.close(drainMs);
      await teardown.stop();
      await reaper.stop();
      // The warm pool holds no workspace; the threads' sandboxes stay (kept), on their network.
      const kept = o.keepSandboxesOnClose ? await manager.closeKeepingThreads() : (await manager.close(), 0);
      if (kept === 0) {
        await redis.del(sandboxKeys.network(network.name));
        await removeSandboxNetwork(o.docker, network.name);
      }
      await lease.stop();
      await redis.quit();
    },
  };
}
