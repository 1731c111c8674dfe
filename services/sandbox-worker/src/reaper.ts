// The reaper: removes sandbox containers and sandbox networks carrying Paddock's labels whose owning
// worker's lease has lapsed in Redis (for longer than a grace), or that are past their wall-clock
// lifetime; a thread's workspace volume outlives its container: it is adopted by this worker, and
// removed only after its idle retention. Warm (unassigned) volumes and disks left without a volume
// go with their owner. It never removes a sandbox its own process holds or labels with its own worker
// id (a worker id is per process: a boot id), whatever Redis says; never touches a resource without
// `paddock.managed=true` (a disk: without its record) or outside the caller's scope labels; and when
// Redis cannot answer it removes nothing (fail closed).
import { egressKeys, LABEL, sandboxKeys } from '@paddock/contracts';
import { removeSandboxNetwork, sweepOrphanFirewall } from './sandbox-network.ts';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DISK_CREATE_GRACE_MS, listWorkspaceDisks, removeWorkspaceDisk } from './workspace-disk.ts';

export type ReapOptions = {
  docker: Docker;
  redis: Redis;
  /** Only resources with all these labels too (tests pass their run's label). */
  scope?: Record<string, string>;
  now?: number;
  logger?: Logger;
  /** The worker's data dir: orphaned workspace disk images under it are detached and deleted. */
  dataDir?: string;
  /** The reaping worker's own id (its boot id): what it labelled or owns is alive by definition. */
  selfWorkerId?: string;
  /** Sandboxes this process holds right now (never removed, whatever Redis says). */
  holds?: (sandboxId: string) => boolean;
  /**
   * An owner's lease must have been seen missing this long (across passes, `deadSince`) before its
   * sandboxes go: a Redis that lost its data gets the live workers' leases back within a refresh.
   */
  ownerDeadGraceMs?: number;
  deadSince?: Map<string, number>;
  /** A stopped thread workspace unused this long is removed (with its records); unset: kept. */
  workspaceRetentionMs?: number;
};

export type ReapResult = { containers: number; volumes: number; networks: number; disks: number };

export async function reap(opts: ReapOptions): Promise<ReapResult> {
  const { docker, redis } = opts;
  const now = opts.now ?? Date.now();
  const labelFilter = (kind: string) =>
    JSON.stringify({
      label: [
        `${LABEL.managed}=true`,
        `${LABEL.kind}=${kind}`,
        ...Object.entries(opts.scope ?? {}).map(([k, v]) => `${k}=${v}`),
      ],
    });
  const leaseAlive = new Map<string, boolean>();
  const ownerAlive = async (owner: string | undefined): Promise<boolean> => {
    if (!owner) return false;
    if (owner === opts.selfWorkerId) return true;
    if (!leaseAlive.has(owner)) {
      let alive = (await redis.exists(sandboxKeys.workerLease(owner))) === 1;
      if (opts.deadSince && opts.ownerDeadGraceMs) {
        if (alive) opts.deadSince.delete(owner);
        else {
          const since = opts.deadSince.get(owner) ?? now;
          opts.deadSince.set(owner, since);
          alive = now - since < opts.ownerDeadGraceMs; // not dead long enough to be sure
        }
      }
      leaseAlive.set(owner, alive);
    }
    return leaseAlive.get(owner)!;
  };
  const mine = (sandboxId: string | undefined, labelWorker: string | undefined, recordOwner: string | undefined) =>
    (sandboxId !== undefined && opts.holds?.(sandboxId) === true) ||
    (opts.selfWorkerId !== undefined &&
      (recordOwner === opts.selfWorkerId || (recordOwner === undefined && labelWorker === opts.selfWorkerId)));
  const result: ReapResult = { containers: 0, volumes: 0, networks: 0, disks: 0 };

  const containers = await docker.listContainers({ all: true, filters: labelFilter('sandbox') });
  const liveSandboxes = new Set<string>();
  for (const c of containers) {
    const sandboxId = c.Labels[LABEL.sandbox];
    // A sandbox claimed by another worker is that worker's now: the Redis record says so.
    const record = sandboxId ? await redis.hgetall(sandboxKeys.sandbox(sandboxId)) : {};
    const owner = record['owner'] ?? c.Labels[LABEL.worker];
    const expiresAt = Number(c.Labels[LABEL.expiresAt] ?? Number.POSITIVE_INFINITY);
    const expired = expiresAt <= now;
    const held = mine(sandboxId, c.Labels[LABEL.worker], record['owner']);
    if ((held && !expired) || (!expired && (await ownerAlive(owner)))) {
      if (sandboxId) liveSandboxes.add(sandboxId);
      continue;
    }
    // A thread's workspace outlives the container (adopted below); a warm sandbox goes whole.
    const keepWorkspace = sandboxId !== undefined && record['thread'] !== undefined && record['tenant'] !== undefined;
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: !keepWorkspace })
      .catch(() => {});
    result.containers++;
    if (sandboxId && keepWorkspace) await stopSandboxRecord(redis, sandboxId, record);
    else if (sandboxId) await forgetSandbox(redis, sandboxId, record, c.Labels[LABEL.pool]);
    opts.logger?.info({ sandboxId, owner, expired, keepWorkspace }, 'reaped sandbox container');
  }

  const { Volumes: volumes } = await docker.listVolumes({ filters: labelFilter('workspace') });
  for (const v of volumes ?? []) {
    const sandboxId = v.Labels?.[LABEL.sandbox];
    if (sandboxId && liveSandboxes.has(sandboxId)) continue;
    // A volume whose container is already gone: orphaned only once its owner is gone too
    // (a sandbox being created has its volume a moment before its container).
    const record = sandboxId ? await redis.hgetall(sandboxKeys.sandbox(sandboxId)) : {};
    const tenant = record['tenant'] ?? v.Labels?.[LABEL.workspace];
    const thread = record['thread'] ?? v.Labels?.[LABEL.thread];
    if (sandboxId && tenant && thread) {
      // A thread's workspace: kept while the thread lives, until its idle retention.
      const lastUsedAt = Number(record['lastUsedAt'] ?? Number.NaN);
      const retained =
        opts.workspaceRetentionMs === undefined ||
        Number.isNaN(lastUsedAt) ||
        record['state'] !== 'stopped' ||
        now - lastUsedAt < retentionOf(record, opts.workspaceRetentionMs);
      if (retained) {
        await adoptWorkspace(redis, opts, { sandboxId, tenant, thread, volumeName: v.Name, record, now }, ownerAlive);
        continue;
      }
      opts.logger?.info({ sandboxId, thread }, 'workspace past its retention: removed');
      await forgetSandbox(redis, sandboxId, record, undefined);
    } else {
      const expired = Number(v.Labels?.[LABEL.expiresAt] ?? Number.POSITIVE_INFINITY) <= now;
      if (mine(sandboxId, v.Labels?.[LABEL.worker], record['owner'])) continue;
      if (!expired && (await ownerAlive(record['owner'] ?? v.Labels?.[LABEL.worker]))) continue;
    }
    const removed = await docker
      .getVolume(v.Name)
      .remove({ force: true })
      .then(() => true)
      .catch(() => false);
    if (removed) result.volumes++;
    const imagePath = v.Labels?.[LABEL.disk];
    if (removed && imagePath) {
      await removeWorkspaceDisk(imagePath)
        .then(() => result.disks++)
        .catch((err: Error) => opts.logger?.warn({ err: err.message, imagePath }, 'workspace disk removal failed'));
    }
  }

  // Disks whose volume is gone (a worker died between the two, or the volume never got made).
  if (opts.dataDir) {
    for (const { imagePath, record } of await listWorkspaceDisks(opts.dataDir, opts.scope)) {
      const volumeExists = await docker
        .getVolume(record.volumeName)
        .inspect()
        .then(() => true)
        .catch((err: { statusCode?: number }) => err.statusCode !== 404);
      if (volumeExists) continue;
      const owner = (await redis.hget(sandboxKeys.sandbox(record.sandboxId), 'owner')) ?? record.workerId;
      // Left by a release on another host's data dir, or a failed removal: gone after the grace.
      const stale = now - (record.createdAt ?? 0) > DISK_CREATE_GRACE_MS;
      if (record.expiresAt > now && !stale && (await ownerAlive(owner))) continue;
      await removeWorkspaceDisk(imagePath)
        .then(() => result.disks++)
        .catch((err: Error) => opts.logger?.warn({ err: err.message, imagePath }, 'orphan disk removal failed'));
    }
  }

  const networks = await docker.listNetworks({ filters: labelFilter('sandbox-network') });
  for (const n of networks) {
    if (await ownerAlive(n.Labels?.[LABEL.worker])) continue;
    const removed = await removeSandboxNetwork(docker, n.Name)
      .then(() => true)
      .catch(() => false); // still has endpoints: next pass
    if (removed) {
      result.networks++;
      // The proxy stops listening on a network whose record is gone.
      await redis.del(sandboxKeys.network(n.Name));
    }
  }
  await sweepOrphanFirewall(docker).catch((err: Error) =>
    opts.logger?.warn({ err: err.message }, 'orphan firewall sweep failed'),
  );
  return result;
}

/** The container is gone, the workspace stays: the record says `stopped`, the proxy forgets the address. */
async function stopSandboxRecord(redis: Redis, sandboxId: string, record: Record<string, string>): Promise<void> {
  const m = redis
    .multi()
    .del(egressKeys.sandbox(sandboxId))
    .hset(sandboxKeys.sandbox(sandboxId), { state: 'stopped', containerId: '', ip: '' });
  if (record['network'] && record['ip']) m.del(egressKeys.source(record['network'], record['ip']));
  await m.exec();
}

/**
 * A kept workspace whose owner is gone (or whose record Redis lost) becomes this worker's: the record
 * is (re)written from its labels, and the thread's mapping restored when missing, so its next turn
 * finds it and a deletion reaches a live owner.
 */
async function adoptWorkspace(
  redis: Redis,
  opts: ReapOptions,
  w: { sandboxId: string; tenant: string; thread: string; volumeName: string; record: Record<string, string>; now: number },
  ownerAlive: (owner: string | undefined) => Promise<boolean>,
): Promise<void> {
  if (!opts.selfWorkerId) return;
  const known = Object.keys(w.record).length > 0;
  if (known && (await ownerAlive(w.record['owner']))) return;
  const m = redis.multi().hset(sandboxKeys.sandbox(w.sandboxId), {
    owner: opts.selfWorkerId,
    tenant: w.tenant,
    thread: w.thread,
    volume: w.volumeName,
    state: 'stopped',
    containerId: '',
    ip: '',
    ...(known ? {} : { lastUsedAt: String(w.now) }),
  });
  m.set(sandboxKeys.threadSandbox(w.tenant, w.thread), w.sandboxId, 'NX');
  await m.exec();
  opts.logger?.info({ sandboxId: w.sandboxId, thread: w.thread, from: w.record['owner'] }, 'workspace adopted');
}

async function forgetSandbox(
  redis: Redis,
  sandboxId: string,
  record: Record<string, string>,
  poolKey: string | undefined,
): Promise<void> {
  const m = redis.multi().del(sandboxKeys.sandbox(sandboxId)).del(egressKeys.sandbox(sandboxId));
  const changed = [egressKeys.sandbox(sandboxId)];
  if (record['network'] && record['ip']) {
    m.del(egressKeys.source(record['network'], record['ip']));
    changed.push(egressKeys.source(record['network'], record['ip']));
  }
  // The proxy drops its cached copies (identity cache) before its next request.
  m.publish(egressKeys.changed, changed.join('\n'));
  if (poolKey) m.lrem(sandboxKeys.warmPool(poolKey), 0, sandboxId);
  if (record['tenant'] && record['thread']) {
    const threadMap = sandboxKeys.threadSandbox(record['tenant'], record['thread']);
    if ((await redis.get(threadMap)) === sandboxId) m.del(threadMap);
  }
  await m.exec();
}

/** Runs `reap` now and every `intervalMs`; a failed pass is logged and retried on the next tick. */
export function startReaper(opts: ReapOptions & { intervalMs: number }): { stop: () => Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const deadSince = opts.deadSince ?? new Map<string, number>();
  const tick = () => {
    running = reap({ ...opts, deadSince, now: undefined }).catch((err: Error) =>
      opts.logger?.warn({ err: err.message }, 'reap pass failed; nothing removed'),
    );
  };
  tick();
  const timer = setInterval(tick, opts.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The idle retention that applies to one kept workspace: the cluster's, or the lower one its
 * workspace's requirement set (recorded on the sandbox by the turn that last used it).
 */
export function retentionOf(record: Record<string, string>, clusterMs: number): number {
  const lowered = Number(record['retentionMs']);
  return Number.isFinite(lowered) && lowered > 0 ? Math.min(clusterMs, lowered) : clusterMs;
}
