// Which sandbox a thread runs in: the thread's own (reused across turns), else one claimed from the
// warm pool, else a new one. Records ownership and the address the egress proxy knows it by in
// Redis, hands each networked exec its own proxy credential. A thread's workspace outlives its
// container: an idle container (or one a dead worker left) is removed and re-created on the same
// workspace at the next use; the workspace goes on thread close or after the retention.
import { randomBytes } from 'node:crypto';
import {
  DEFAULT_ALLOWED_IMAGES,
  imageAllowed,
  imageNotAllowedMessage,
  PaddockError,
  traceCarrier,
} from '@paddock/platform';
import type { SandboxEgressRecord, TranscriptItem } from '@paddock/contracts';
import {
  issueExecCredential,
  putSandboxEgress,
  removeSandboxEgress,
  revokeExecCredential,
} from './egress-store.ts';
import { type ExecChunk, type ExecRequest, type ExecResult, sandboxKeys } from '@paddock/contracts';
import { type SandboxNetwork } from './sandbox-network.ts';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentRuntime } from './agent-runtime.ts';
import type { SandboxShape } from './container-spec.ts';
import {
  attachSandbox,
  createSandbox,
  destroySandbox,
  removeContainer,
  type Sandbox,
  workspaceVolumeExists,
} from './sandbox.ts';
import { WarmPool } from './warm-pool.ts';
import { workspaceBytes } from './files/workspace-files.ts';

export type SandboxManagerOptions = {
  docker: Docker;
  redis: Redis;
  workerId: string;
  network: SandboxNetwork;
  runtime: AgentRuntime;
  defaultShape: SandboxShape;
  warmPoolSize: number;
  idleTtlMs: number;
  execTimeoutMs: number;
  maxOutputBytes: number;
  /** Extra labels on everything created (tests scope their resources with theirs). */
  scope?: Record<string, string>;
  /** Images a sandbox may be created from (besides `defaultShape.image`); unset: the built sandbox images. */
  allowedImages?: readonly string[];
  /** The worker's data dir (workspace disk images). */
  dataDir?: string;
  /** Where the orchestrator reaches this worker's internal endpoint (files API); kept in each owner record. */
  internalUrl?: string;
  logger?: Logger;
};

export type ThreadRef = { workspace: string; thread: string };
/** `resumed`: a new container on the thread's kept workspace (stopped idle, or left by a dead worker). */
export type ClaimSource = 'reused' | 'resumed' | 'warm' | 'cold';
/** What the egress proxy applies to the thread's sandbox (the rest of its record is the sandbox's own). */
export type EgressSettings = Pick<
  SandboxEgressRecord,
  'policy' | 'escalation' | 'grant_scope' | 'policy_context'
>;

/** No network at all: the default until a turn says otherwise. */
export const NO_EGRESS: EgressSettings = {
  policy: { mode: 'off', allowed_domains: [], denied_domains: [] },
  escalation: 'none',
  grant_scope: 'once',
  policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'on-request' },
};

const threadKey = (t: ThreadRef) => `${t.workspace}\u0000${t.thread}`;

export class SandboxManager {
  readonly pool: WarmPool;
  private readonly opts: SandboxManagerOptions;
  private readonly byThread = new Map<string, { sandbox: Sandbox; ref: ThreadRef; lastUsedAt: number }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly claiming = new Map<string, Promise<unknown>>();

  constructor(opts: SandboxManagerOptions) {
    this.opts = opts;
    this.pool = new WarmPool({
      docker: opts.docker,
      redis: opts.redis,
      workerId: opts.workerId,
      network: opts.network,
      runtime: opts.runtime,
      size: opts.warmPoolSize,
      scope: opts.scope,
      dataDir: opts.dataDir,
      logger: opts.logger,
    });
  }

  /** Defence in depth behind the API's check: no sandbox from an image off the operator's list. */
  private checkImage(image: string): void {
    const allowed = [...(this.opts.allowedImages ?? DEFAULT_ALLOWED_IMAGES), this.opts.defaultShape.image];
    if (!imageAllowed(allowed, image))
      throw new PaddockError('image_not_allowed', imageNotAllowedMessage(image), { status: 400, field: 'image' });
  }

  /** Starts the warm pool's top-up and the idle sweep. */
  start(idleSweepMs = Math.min(60_000, Math.max(100, Math.floor(this.opts.idleTtlMs / 4)))): void {
    if (this.opts.warmPoolSize > 0) this.pool.keepWarm(this.opts.defaultShape);
    this.idleTimer = setInterval(() => {
      this.sweepIdle().catch((err: Error) =>
        this.opts.logger?.warn({ err: err.message }, 'idle sweep failed'),
      );
    }, idleSweepMs);
    this.idleTimer.unref();
  }

  /** The thread's sandbox: reused, resumed on its kept workspace, claimed warm, or created cold (in that order). */
  async forThread(
    ref: ThreadRef,
    opts: { shape?: SandboxShape; egress?: EgressSettings } = {},
  ): Promise<{ sandbox: Sandbox; source: ClaimSource }> {
    // One claim per thread at a time (a turn and a files call may race for the same workspace).
    const key = threadKey(ref);
    const before = this.claiming.get(key);
    if (before) await before.catch(() => undefined);
    const p = this.claimFor(ref, opts);
    this.claiming.set(key, p);
    try {
      return await p;
    } finally {
      if (this.claiming.get(key) === p) this.claiming.delete(key);
    }
  }

  private async claimFor(
    ref: ThreadRef,
    opts: { shape?: SandboxShape; egress?: EgressSettings },
  ): Promise<{ sandbox: Sandbox; source: ClaimSource }> {
    const shape = opts.shape ?? this.opts.defaultShape;
    this.checkImage(shape.image);
    const local = this.byThread.get(threadKey(ref));
    if (local) {
      local.lastUsedAt = Date.now();
      // Each turn carries its own resolved config: the proxy applies this turn's policy from now on.
      if (opts.egress) await this.putEgress(local.sandbox, ref, opts.egress);
      return { sandbox: local.sandbox, source: 'reused' };
    }
    const known = await this.opts.redis.get(sandboxKeys.threadSandbox(ref.workspace, ref.thread));
    if (known) {
      const attached = await attachSandbox(this.opts.docker, known, this.opts.network, (name) =>
        networkRecord(this.opts.redis, name),
      ).catch(() => undefined);
      if (attached) {
        await this.assign(attached, ref, opts.egress);
        return { sandbox: attached, source: 'reused' };
      }
      // No usable container: the workspace is kept (stopped, or its worker died): a new container on it.
      const volumeName =
        (await this.opts.redis.hget(sandboxKeys.sandbox(known), 'volume')) || `pdk-ws-${known}`;
      if (await workspaceVolumeExists(this.opts.docker, volumeName)) {
        const resumed = await createSandbox(this.opts.docker, {
          shape,
          network: this.opts.network,
          runtime: this.opts.runtime,
          workerId: this.opts.workerId,
          workspace: ref.workspace,
          thread: ref.thread,
          scope: this.opts.scope,
          dataDir: this.opts.dataDir,
          reuse: { sandboxId: known, volumeName },
        });
        await this.assign(resumed, ref, opts.egress);
        return { sandbox: resumed, source: 'resumed' };
      }
      this.opts.logger?.warn({ sandboxId: known, thread: ref.thread }, 'workspace volume missing: a new workspace');
      await this.opts.redis.del(sandboxKeys.threadSandbox(ref.workspace, ref.thread));
    }
    const warm = await this.pool.claim(shape);
    if (warm) {
      await this.assign(warm, ref, opts.egress);
      return { sandbox: warm, source: 'warm' };
    }
    const cold = await createSandbox(this.opts.docker, {
      shape,
      network: this.opts.network,
      runtime: this.opts.runtime,
      workerId: this.opts.workerId,
      workspace: ref.workspace,
      thread: ref.thread,
      scope: this.opts.scope,
      dataDir: this.opts.dataDir,
    });
    await this.assign(cold, ref, opts.egress);
    return { sandbox: cold, source: 'cold' };
  }

  private putEgress(sandbox: Sandbox, ref: ThreadRef, egress: EgressSettings): Promise<void> {
    return putSandboxEgress(this.opts.redis, {
      sandbox_id: sandbox.id,
      tenant: ref.workspace,
      thread_id: ref.thread,
      network: sandbox.network.name,
      address: sandbox.ip,
      ...egress,
    });
  }

  private async assign(sandbox: Sandbox, ref: ThreadRef, egress: EgressSettings | undefined): Promise<void> {
    const now = Date.now();
    await this.opts.redis
      .multi()
      .hset(sandboxKeys.sandbox(sandbox.id), {
        owner: this.opts.workerId,
        state: 'assigned',
        tenant: ref.workspace,
        thread: ref.thread,
        containerId: sandbox.containerId,
        volume: sandbox.volumeName,
        network: sandbox.network.name,
        ip: sandbox.ip,
        lastUsedAt: String(now),
        ...(this.opts.internalUrl ? { internalUrl: this.opts.internalUrl } : {}),
      })
      .set(sandboxKeys.threadSandbox(ref.workspace, ref.thread), sandbox.id)
      .exec();
    await this.putEgress(sandbox, ref, egress ?? NO_EGRESS);
    this.byThread.set(threadKey(ref), { sandbox, ref, lastUsedAt: now });
  }

  /** Runs one exec; with `network`, the exec gets its own proxy credential, valid while it runs. */
  async exec(
    sandbox: Sandbox,
    req: ExecRequest,
    onChunk?: (c: ExecChunk) => void,
    opts: { execId?: string; turnId?: string; signal?: AbortSignal; review?: { command: string[]; transcript: TranscriptItem[] } } = {},
  ): Promise<ExecResult> {
    const timeoutMs = req.timeoutMs ?? this.opts.execTimeoutMs;
    const maxOutputBytes = req.maxOutputBytes ?? this.opts.maxOutputBytes;
    for (const entry of this.byThread.values()) if (entry.sandbox === sandbox) entry.lastUsedAt = Date.now();
    if (!req.network) {
      return sandbox.exec({ ...req, timeoutMs, maxOutputBytes }, { onChunk, signal: opts.signal });
    }
    const trace = traceCarrier(); // the action's span: the proxy's decisions join the turn's trace
    const issued = await issueExecCredential(this.opts.redis, {
      sandboxId: sandbox.id,
      execId: opts.execId ?? randomBytes(8).toString('hex'),
      ttlMs: timeoutMs + 5_000,
      ...(opts.turnId ? { turnId: opts.turnId } : {}),
      ...(trace ? { trace } : {}),
      ...(opts.review ? { review: opts.review } : {}),
    });
    try {
      return await sandbox.exec(
        { ...req, timeoutMs, maxOutputBytes },
        { onChunk, signal: opts.signal, extraEnv: proxyEnv(sandbox.network, sandbox.id, issued.token) },
      );
    } finally {
      await revokeExecCredential(this.opts.redis, sandbox.id, issued.token).catch(() => {});
    }
  }

  /** Thread closed: its sandbox is destroyed (never returned to the pool). */
  async release(ref: ThreadRef): Promise<boolean> {
    const entry = this.byThread.get(threadKey(ref));
    const id =
      entry?.sandbox.id ?? (await this.opts.redis.get(sandboxKeys.threadSandbox(ref.workspace, ref.thread)));
    this.byThread.delete(threadKey(ref));
    if (!id) return false;
    const record = await this.opts.redis.hgetall(sandboxKeys.sandbox(id));
    await this.forget(id, record, ref);
    await destroySandbox(this.opts.docker, {
      // A stopped workspace's record has no container id (''): the name is still `pdk-<id>`.
      containerId: entry?.sandbox.containerId || record['containerId'] || `pdk-${id}`,
      volumeName: entry?.sandbox.volumeName || record['volume'] || `pdk-ws-${id}`,
      close: () => entry?.sandbox.close(),
    });
    return true;
  }

  private async forget(id: string, record: Record<string, string>, ref: ThreadRef): Promise<void> {
    if (record['network'] && record['ip'])
      await removeSandboxEgress(this.opts.redis, { sandbox_id: id, network: record['network'], address: record['ip'] });
    const m = this.opts.redis.multi().del(sandboxKeys.sandbox(id));
    // Only the mapping that still points at this sandbox.
    const threadMap = sandboxKeys.threadSandbox(ref.workspace, ref.thread);
    if ((await this.opts.redis.get(threadMap)) === id) m.del(threadMap);
    await m.exec();
  }

  /**
   * Stops the thread's container (removed: a new one is made on the same workspace at the next use)
   * and keeps its workspace volume, its disk and the records naming them (state `stopped`).
   */
  async park(ref: ThreadRef): Promise<boolean> {
    const entry = this.byThread.get(threadKey(ref));
    if (!entry) return false;
    this.byThread.delete(threadKey(ref));
    const { sandbox } = entry;
    // The size the thread's view shows while no container runs (measured while one still does).
    const bytes = await workspaceBytes(sandbox);
    sandbox.close();
    await removeSandboxEgress(this.opts.redis, {
      sandbox_id: sandbox.id,
      network: sandbox.network.name,
      address: sandbox.ip,
    }).catch(() => {});
    await removeContainer(this.opts.docker, sandbox.containerId);
    await this.opts.redis.hset(sandboxKeys.sandbox(sandbox.id), {
      state: 'stopped',
      containerId: '',
      ip: '',
      lastUsedAt: String(entry.lastUsedAt),
      ...(bytes !== undefined ? { workspaceBytes: String(bytes) } : {}),
    });
    return true;
  }

  /** Stops the thread containers not used for the idle TTL; their workspaces are kept. */
  async sweepIdle(now = Date.now()): Promise<number> {
    let stopped = 0;
    for (const entry of [...this.byThread.values()]) {
      if (now - entry.lastUsedAt < this.opts.idleTtlMs) continue;
      this.opts.logger?.info(
        { sandboxId: entry.sandbox.id, thread: entry.ref.thread },
        'idle sandbox stopped; workspace kept',
      );
      await this.park(entry.ref);
      stopped++;
    }
    return stopped;
  }

  /** Stop for a hand-over: the warm pool goes, the threads' sandboxes (their workspaces) stay running, for the next worker to adopt; returns how many. */
  async closeKeepingThreads(): Promise<number> {
    clearInterval(this.idleTimer);
    await this.pool.close();
    return this.byThread.size;
  }

  /** Graceful stop: warm sandboxes are destroyed; threads' containers stopped, their workspaces kept. */
  async close(): Promise<void> {
    clearInterval(this.idleTimer);
    await this.pool.close();
    await Promise.all([...this.byThread.values()].map((e) => this.park(e.ref).catch(() => false)));
  }

  /** The sandbox this process holds under that id, if any. */
  heldSandbox(sandboxId: string): Sandbox | undefined {
    for (const e of this.byThread.values()) if (e.sandbox.id === sandboxId) return e.sandbox;
    return undefined;
  }

  /** The default shape on another image (an environment's; still checked against the allowlist). */
  shapeFor(image: string): SandboxShape {
    return { ...this.opts.defaultShape, image };
  }

  /** Sets where the orchestrator reaches this worker (known once the internal endpoint listens). */
  setInternalUrl(url: string): void {
    this.opts.internalUrl = url;
  }

  /** Whether this process holds the sandbox now (the reaper never removes those, whatever Redis says). */
  holds(sandboxId: string): boolean {
    for (const e of this.byThread.values()) if (e.sandbox.id === sandboxId) return true;
    return false;
  }
}

/** Another worker's sandbox network, from the record it keeps in Redis while it lives. */
export async function networkRecord(redis: Redis, name: string): Promise<SandboxNetwork | undefined> {
  const raw = await redis.get(sandboxKeys.network(name));
  return raw ? (JSON.parse(raw) as SandboxNetwork) : undefined;
}

/** The proxy variables of a networked exec: the credential names the sandbox and this exec. */
export function proxyEnv(network: SandboxNetwork, sandboxId: string, token: string): Record<string, string> {
  const url = `http://${sandboxId}:${token}@${network.gateway}:${network.proxyPort}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}
