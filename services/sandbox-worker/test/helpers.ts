// Test fixture: real Docker, real Redis, this suite's own sandbox network, the agent runtime, and
// a teardown that removes exactly what the suite made (labels), firewall rules included.
import {
  createSandboxNetwork,
  removeSandboxNetwork,
  type SandboxNetwork,
} from '../src/sandbox-network.ts';
import { ensureDocker, type RedisServer, removeLabeled, startRedis, testRun } from '@paddock/testing';
import { ensureSandboxImage } from '@paddock/platform';
import type Docker from 'dockerode';
import { type AgentRuntime, prepareAgentRuntime } from '../src/agent-runtime.ts';
import type { SandboxLimits, SandboxShape } from '../src/container-spec.ts';
import { createSandbox, type Sandbox } from '../src/sandbox.ts';

export const SMALL_LIMITS: SandboxLimits = {
  cpus: 0.5,
  memoryMb: 192,
  pids: 96,
  tmpMb: 16,
  homeMb: 8,
  lifetimeMs: 30 * 60_000,
};

export type Fixture = {
  docker: Docker;
  redis: RedisServer;
  network: SandboxNetwork;
  runtime: AgentRuntime;
  image: string;
  shape: SandboxShape;
  run: { runId: string; labels: Record<string, string> };
  workerId: string;
  proxyPort: number;
  sandbox: (limits?: Partial<SandboxLimits>) => Promise<Sandbox>;
};

/** Set by `fixture`, run by the suite's top-level `after(cleanup)`: removes what the suite made. */
let teardown: (() => Promise<void>) | undefined;
export const cleanup = async () => {
  await teardown?.();
  teardown = undefined;
};

/** Sets up the fixture; the suite calls `after(cleanup)` at top level. */
export async function fixture(name: string, opts: { proxyPort?: number } = {}): Promise<Fixture> {
  const docker = await ensureDocker();
  const run = testRun(name);
  const redis = await startRedis();
  const workerId = `wkr-test-${run.runId}`;
  const proxyPort = opts.proxyPort ?? 3128;
  const made: Sandbox[] = [];
  teardown = async () => {
    for (const s of made) s.close(); // end agent sessions before their containers go
    const networks = await docker.listNetworks({ filters: JSON.stringify({ label: [`paddock.test=${run.runId}`] }) });
    await removeLabeled(docker, run.runId);
    for (const n of networks) await removeSandboxNetwork(docker, n.Name).catch(() => {}); // and its firewall rules
    await redis.stop();
  };
  const image = await ensureSandboxImage(docker);
  const runtime = await prepareAgentRuntime();
  const net = await createSandboxNetwork(docker, { workerId, proxyPort, scope: run.labels });
  const shape = { image, limits: SMALL_LIMITS };
  return {
    docker,
    redis,
    network: net,
    runtime,
    image,
    shape,
    run,
    workerId,
    proxyPort,
    sandbox: async (limits = {}) => {
      const s = await createSandbox(docker, {
        shape: { image, limits: { ...SMALL_LIMITS, ...limits } },
        network: net,
        runtime,
        workerId,
        workspace: 'tenant-a',
        thread: `thread-${Math.random().toString(36).slice(2, 8)}`,
        scope: run.labels,
      });
      made.push(s);
      return s;
    },
  };
}

export const sh = (script: string) => ['bash', '-c', script];
