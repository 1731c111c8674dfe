// The warm pool: started, unassigned sandboxes per pool key (image + limits), listed in Redis so
// that LPOP is the one atomic claim (two workers never get the same sandbox). A claimed sandbox
// never goes back: after its thread it is destroyed, so no tenant inherits another's leftovers.
import { sandboxKeys } from '@paddock/contracts';
import type { SandboxNetwork } from './sandbox-network.ts';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentRuntime } from './agent-runtime.ts';
import { poolKey, type SandboxShape } from './container-spec.ts';
import { attachSandbox, createSandbox, destroySandbox, type Sandbox } from './sandbox.ts';

export type WarmPoolOptions = {
  docker: Docker;
  redis: Redis;
  workerId: string;
  network: SandboxNetwork;
  runtime: AgentRuntime;
  size: number;
  scope?: Record<string, string>;
  /** The worker's data dir (workspace disk images). */
  dataDir?: string;
  logger?: Logger;
  /** How often the background top-up looks at the pool. */
  checkIntervalMs?: number;
};

export class WarmPool {
  private readonly opts: WarmPoolOptions;
  /** Warm sandboxes this process made, with their agent sessions already running. */
  private readonly local = new Map<string, Sandbox>();
  private readonly shapes = new Map<string, SandboxShape>();
  private readonly filling = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: WarmPoolOptions) {
    this.opts = opts;
  }

  /** Keeps `shape` topped up in the background from now on. */
  keepWarm(shape: SandboxShape): void {
    this.shapes.set(poolKey(shape), shape);
    void this.topUp(shape);
    this.timer ??= setInterval(() => {
      for (const s of this.shapes.values()) void this.topUp(s);
    }, this.opts.checkIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Creates sandboxes until the pool holds `size`; one filler per key at a time. */
  topUp(shape: SandboxShape): Promise<void> {
    const key = poolKey(shape);
    const running = this.filling.get(key);
    if (running) return running;
    const work = (async () => {
      const { redis, docker } = this.opts;
      while (!this.closed && (await redis.llen(sandboxKeys.warmPool(key))) < this.opts.size) {
        const sandbox = await createSandbox(docker, {
          shape,
          network: this.opts.network,
          runtime: this.opts.runtime,
          workerId: this.opts.workerId,
          warm: true,
          scope: this.opts.scope,
          dataDir: this.opts.dataDir,
        });
        if (this.closed) {
          await destroySandbox(docker, sandbox);
          return;
        }
        this.local.set(sandbox.id, sandbox);
        await redis
          .multi()
          .hset(sandboxKeys.sandbox(sandbox.id), {
            owner: this.opts.workerId,
            state: 'warm',
            poolKey: key,
            containerId: sandbox.containerId,
            volume: sandbox.volumeName,
            network: sandbox.network.name,
            ip: sandbox.ip,
          })
          .rpush(sandboxKeys.warmPool(key), sandbox.id)
          .exec();
      }
    })()
      .catch((err: Error) =>
        this.opts.logger?.warn({ err: err.message, poolKey: key }, 'warm pool top-up failed'),
      )
      .finally(() => this.filling.delete(key));
    this.filling.set(key, work);
    return work;
  }

  /** Takes one warm sandbox of `shape`, or undefined when the pool is empty. */
  async claim(shape: SandboxShape): Promise<Sandbox | undefined> {
    const key = poolKey(shape);
    // One this process made first: its agent session is already running (another worker's needs a
    // new one, a docker exec: the slowest step of a claim under load). LREM of one id is as atomic
    // a claim as LPOP; an id another worker took meanwhile is forgotten here.
    for (const [id, sandbox] of this.local) {
      if (sandbox.poolKey !== key) continue;
      this.local.delete(id);
      if ((await this.opts.redis.lrem(sandboxKeys.warmPool(key), 1, id)) === 1) {
        if (this.shapes.has(key)) void this.topUp(shape);
        return sandbox;
      }
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = await this.opts.redis.lpop(sandboxKeys.warmPool(key));
      if (!id) break;
      let sandbox: Sandbox | undefined = this.local.get(id);
      this.local.delete(id);
      if (!sandbox) {
        // Made by another worker on this host: attach our own agent session to it.
        sandbox = await attachSandbox(this.opts.docker, id, this.opts.network, async (name) => {
          const raw = await this.opts.redis.get(sandboxKeys.network(name));
          return raw ? (JSON.parse(raw) as SandboxNetwork) : undefined;
        }).catch(() => undefined);
      }
      if (sandbox) {
        if (this.shapes.has(key)) void this.topUp(shape);
        return sandbox;
      }
      await this.opts.redis.del(sandboxKeys.sandbox(id)); // gone (reaped): try the next one
    }
    if (this.shapes.has(key)) void this.topUp(shape);
    return undefined;
  }

  /** Stops topping up and destroys the warm sandboxes this process made (after taking them off the list). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.filling.values()]);
    await Promise.all(
      [...this.local.values()].map(async (sandbox) => {
        const removed = await this.opts.redis.lrem(sandboxKeys.warmPool(sandbox.poolKey), 0, sandbox.id);
        if (removed > 0) {
          await this.opts.redis.del(sandboxKeys.sandbox(sandbox.id));
          await destroySandbox(this.opts.docker, sandbox);
        }
      }),
    );
    this.local.clear();
  }
}
