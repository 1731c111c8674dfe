// The sandbox worker's parts, started together: the worker lease, the reaper, its sandbox network
// (recorded in Redis, where the egress proxy discovers it), the sandbox manager with its warm pool,
// the teardown of deleted threads' sandboxes, and the turn consumer running the turn engine.
// main.ts wires it from the cluster file; the end-to-end tests start it in-process with their own
// labels and budgets.
import { createRedis } from '@paddock/platform';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ModelProviders } from '@paddock/config';
import {
  createGuardianClient,
  publishWorkerEndpoint,
  publishWorkerImages,
  removeWorkerEndpoint,
  sandboxKeys,
} from '@paddock/contracts';
import { DEFAULT_ALLOWED_IMAGES, imageAllowed } from '@paddock/platform';
import { createInternalServer, listenInternal } from './internal/internal-server.ts';
import { createSandboxNetwork, removeSandboxNetwork } from './sandbox-network.ts';
import { startTurnConsumer, type TurnConsumer, type UsagePricing } from '@paddock/turn-queue';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { prepareAgentRuntime } from './agent-runtime.ts';
import type { SandboxLimits } from './container-spec.ts';
import { holdWorkerLease } from './lease.ts';
import { startReaper } from './reaper.ts';
import { SandboxManager } from './sandbox-manager.ts';
import { startThreadTeardown } from './thread-teardown.ts';
import type { OutputCaps } from './turn/item-events.ts';
import { createTurnRunner } from './turn/run-turn.ts';
import type { RepositorySettings } from './repo/repo-policy.ts';
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
  /** A stopped thread workspace is removed this long after its last use; unset: 7 days. */
  workspaceRetentionMs?: number;
  /** Largest files API upload, bytes; unset: 1 GiB. */
  filesMaxUploadBytes?: number;
  /** The internal endpoint (files API); unset: loopback, any free port. */
  internal?: { host: string; port: number; url?: string | undefined };
  /** [sandbox_worker] repository hosts, credentials and budgets; unset: no repository checkouts. */
  repositories?: RepositorySettings;
  /**
   * Leave the threads' sandboxes (and the network they are on) when closing, for the next worker to
   * adopt or the reaper to remove once this worker's lease lapses; main.ts sets it (a deploy keeps
   * workspaces). Unset: close stops the threads' containers (workspaces kept) and removes the warm pool and network.
   */
  keepSandboxesOnClose?: boolean;
};

export type RunningWorker = {
  workerId: string;
  redis: Redis;
  manager: SandboxManager;
  consumer: TurnConsumer;
  network: { name: string; gateway: string };
  /** Where the orchestrator reaches this worker's internal endpoint. */
  internalUrl: string;
  /**
   * Graceful stop, in order: no new turns; running ones may finish within `drainMs` (then they are
   * handed back to the queue, to be resumed elsewhere); sandboxes (unless kept), network, lease.
   */
  close: (drainMs?: number) => Promise<void>;
};

/**
 * Where the orchestrator reaches this worker: the operator's `internal_url`, else the bound address;
 * a wildcard bind (0.0.0.0, ::) names no reachable host, so this host's name stands for it: each
 * replica (container, pod, node) then publishes its own URL with no per-replica configuration.
 */
export function internalUrlOf(host: string, port: number, url: string | undefined, hostName: string = hostname()): string {
  if (url) return url;
  const target = host === '0.0.0.0' || host === '::' || host === '' ? hostName : host;
  return `http://${target.includes(':') ? `[${target}]` : target}:${port}`;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const workerId = o.workerId ?? `wkr-${hostname().slice(0, 20)}-${randomBytes(6).toString('hex')}`;
  const redis = createRedis(o.redisUrl, { maxRetriesPerRequest: null });
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
  // The manager is made below; until then this process holds nothing.
  let holds: (sandboxId: string) => boolean = () => false;
  const reaper = startReaper({
    docker: o.docker,
    redis,
    intervalMs: o.reapIntervalMs,
    logger: o.logger,
    scope: o.scope,
    dataDir: o.dataDir,
    selfWorkerId: workerId,
    holds: (id) => holds(id),
    ownerDeadGraceMs: o.leaseMs,
    workspaceRetentionMs: o.workspaceRetentionMs ?? 7 * 24 * 3600_000,
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
  holds = (id) => manager.holds(id);
  manager.start();
  // The files API's worker half: loopback (or the operator's address), the service credential.
  const internalServer = createInternalServer({
    manager,
    redis,
    serviceToken: o.guardianServiceToken,
    maxUploadBytes: o.filesMaxUploadBytes ?? 1024 * 1024 * 1024,
    logger: o.logger,
  });
  const internalHost = o.internal?.host ?? '127.0.0.1';
  const internalPort = await listenInternal(internalServer, internalHost, o.internal?.port ?? 0);
  const internalUrl = internalUrlOf(internalHost, internalPort, o.internal?.url);
  manager.setInternalUrl(internalUrl);
  // The engine's allowed images, for the API's check at environment creation (refreshed with the lease).
  const allowed = [...(o.allowedImages ?? DEFAULT_ALLOWED_IMAGES), o.image];
  const publishImages = async () => {
    const tags = (await o.docker.listImages()).flatMap((i) => i.RepoTags ?? []);
    const images = [...new Set(tags.filter((t) => t !== '<none>:<none>' && imageAllowed(allowed, t)))].slice(0, 1000);
    await publishWorkerImages(redis, workerId, images, Math.max(o.leaseMs, 30_000) * 2);
  };
  let imagesDueAt = 0;
  const publish = async () => {
    await publishWorkerEndpoint(redis, workerId, internalUrl, o.leaseMs).catch((err: Error) =>
      o.logger.warn({ err: err.message }, 'worker endpoint refresh failed'),
    );
    if (Date.now() < imagesDueAt) return;
    imagesDueAt = Date.now() + 30_000;
    await publishImages().catch((err: Error) => o.logger.warn({ err: err.message }, 'image inventory refresh failed'));
  };
  await publish();
  const publishTimer = setInterval(() => void publish(), Math.max(100, Math.floor(o.leaseMs / 3)));
  publishTimer.unref();
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
      docker: o.docker,
      ...(o.repositories ? { repositories: o.repositories } : {}),
      ...(o.dataDir ? { dataDir: o.dataDir } : {}),
    }),
  });
  return {
    workerId,
    redis,
    manager,
    consumer,
    network,
    internalUrl,
    close: async (drainMs?: number) => {
      // Turns first (they may drain), then the files endpoint, which served them meanwhile.
      await consumer.close(drainMs);
      clearInterval(publishTimer);
      await removeWorkerEndpoint(redis, workerId).catch(() => {});
      await redis.hdel(sandboxKeys.workerImages(), workerId).catch(() => 0);
      const closed = new Promise<void>((resolve) => internalServer.close(() => resolve()));
      internalServer.closeAllConnections();
      await closed;
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
