// `npm run bench:sandbox`: the sandbox runtime's latencies on this machine, in one run: warm-pool
// claim vs cold create+start, exec round trip of `true` through the in-sandbox agent vs `docker exec`
// through dockerode in the same container, and 20 sandboxes each running a short command at once.
// Real Docker and Redis; everything created carries this run's labels and is removed at the end.
// The last stdout line is one JSON object.
import {
  createSandboxNetwork,
  prepareAgentRuntime,
  removeSandboxNetwork,
  SandboxManager,
} from '@paddock/sandbox-worker';
import { sandboxKeys } from '@paddock/contracts';
import { ensureDocker, removeLabeled, startRedis, testRun } from '@paddock/testing';
import { ensureSandboxImage } from '@paddock/platform';
import type Docker from 'dockerode';
import type { Sandbox, SandboxLimits } from '@paddock/sandbox-worker';

const WARM_SAMPLES = Number(process.env['BENCH_WARM_SAMPLES'] ?? 10);
const COLD_SAMPLES = Number(process.env['BENCH_COLD_SAMPLES'] ?? 5);
const EXEC_SAMPLES = Number(process.env['BENCH_EXEC_SAMPLES'] ?? 300);
const DOCKER_EXEC_SAMPLES = Number(process.env['BENCH_DOCKER_EXEC_SAMPLES'] ?? 60);
const CONCURRENT = 20;

const LIMITS: SandboxLimits = { cpus: 1, memoryMb: 256, pids: 128, tmpMb: 32, homeMb: 16, lifetimeMs: 30 * 60_000 };

const pct = (samples: number[], p: number) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(2));
};
const log = (line: string) => process.stderr.write(`${line}\n`);

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await work();
  return [performance.now() - t, v];
}

/** A bare `docker run IMAGE true` through dockerode (create, start, wait for the exit): the engine's
 * own cold-start cost for the image, on the default bridge, no volume; the removal is not timed. */
async function dockerRunTrue(image: string): Promise<number> {
  const t = performance.now();
  const container = await docker.createContainer({ Image: image, Cmd: ['true'], Labels: run.labels });
  await container.start();
  await container.wait();
  const ms = performance.now() - t;
  await container.remove({ force: true });
  return ms;
}

/** One `docker exec` of `true` through dockerode: create, start attached, wait for the stream, inspect. */
async function dockerExecTrue(container: Docker.Container): Promise<number> {
  const exec = await container.exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true, User: '1000:1000' });
  const stream = await exec.start({});
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
    stream.resume();
  });
  const info = await exec.inspect();
  if (info.ExitCode !== 0) throw new Error(`docker exec true exited ${info.ExitCode}`);
  return 0;
}

const docker = await ensureDocker();
const run = testRun('bench-sandbox');
const redisServer = await startRedis();
const redis = redisServer.client();
const workerId = `wkr-bench-${run.runId}`;
let networkName: string | undefined;
let manager: SandboxManager | undefined;
try {
  const image = await ensureSandboxImage(docker, 'base', log);
  const runtime = await prepareAgentRuntime();
  const network = await createSandboxNetwork(docker, { workerId, proxyPort: 3128, scope: run.labels });
  networkName = network.name;
  await redis.set(sandboxKeys.workerLease(workerId), '1', 'PX', 3_600_000);
  const shape = { image, limits: LIMITS };
  manager = new SandboxManager({
    docker,
    redis,
    workerId,
    network,
    runtime,
    defaultShape: shape,
    warmPoolSize: WARM_SAMPLES,
    idleTtlMs: 3_600_000,
    execTimeoutMs: 30_000,
    maxOutputBytes: 65_536,
    scope: run.labels,
  });

  log(`filling the warm pool with ${WARM_SAMPLES}`);
  await manager.pool.topUp(shape);
  const warm: number[] = [];
  for (let i = 0; i < WARM_SAMPLES; i++) {
    const [ms, claim] = await timed(() => manager!.forThread({ workspace: 'bench', thread: `warm-${i}` }));
    if (claim.source !== 'warm') throw new Error(`claim ${i} came from ${claim.source}, not the warm pool`);
    warm.push(ms);
  }

  log(`cold create+start x${COLD_SAMPLES}, each followed by a bare docker run of the same image`);
  const cold: number[] = [];
  const dockerRun: number[] = [];
  await dockerRunTrue(image); // the engine's first run of the image warms its caches for both
  for (let i = 0; i < COLD_SAMPLES; i++) {
    const [ms, claim] = await timed(() => manager!.forThread({ workspace: 'bench', thread: `cold-${i}` }));
    if (claim.source !== 'cold') throw new Error(`cold ${i} came from ${claim.source}`);
    cold.push(ms);
    dockerRun.push(await dockerRunTrue(image));
  }

  log('exec round trips in one sandbox: agent, then docker exec');
  const { sandbox } = await manager.forThread({ workspace: 'bench', thread: 'warm-0' });
  for (let i = 0; i < 20; i++) await manager.exec(sandbox, { argv: ['true'], mode: 'workspace-write' });
  const agentExec: number[] = [];
  /** The agent's own spawn-to-exit time of each exec (launcher, command, process-tree sweep). */
  const agentSide: number[] = [];
  for (let i = 0; i < EXEC_SAMPLES; i++) {
    const [ms, r] = await timed(() => manager!.exec(sandbox, { argv: ['true'], mode: 'workspace-write' }));
    if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
    agentExec.push(ms);
    agentSide.push(r.durationMs);
  }
  for (let i = 0; i < 5; i++) await dockerExecTrue(sandbox.container);
  const dockerExec: number[] = [];
  for (let i = 0; i < DOCKER_EXEC_SAMPLES; i++) dockerExec.push((await timed(() => dockerExecTrue(sandbox.container)))[0]);

  log(`${CONCURRENT} sandboxes at once`);
  const [createWallMs, many] = await timed(() =>
    Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => manager!.forThread({ workspace: 'bench', thread: `many-${i}` })),
    ),
  );
  const [execWallMs, results] = await timed(() =>
    Promise.all(
      many.map(({ sandbox: s }: { sandbox: Sandbox }) =>
        manager!.exec(s, { argv: ['sh', '-c', 'echo hello > /workspace/hi && cat /workspace/hi'], mode: 'workspace-write' }),
      ),
    ),
  );
  const okCount = results.filter((r) => r.exitCode === 0 && r.stdout.text === 'hello\n').length;
  if (okCount !== CONCURRENT) throw new Error(`${CONCURRENT - okCount} of the concurrent commands failed`);

  const summary = {
    bench: 'sandbox',
    warm_claim_p50_ms: pct(warm, 50),
    warm_claim_p99_ms: pct(warm, 99),
    cold_start_p50_ms: pct(cold, 50),
    docker_run_p50_ms: pct(dockerRun, 50),
    cold_vs_docker_run_ratio: Number((pct(cold, 50) / pct(dockerRun, 50)).toFixed(2)),
    exec_p50_ms: pct(agentExec, 50),
    exec_p99_ms: pct(agentExec, 99),
    exec_agent_side_p50_ms: pct(agentSide, 50),
    docker_exec_p50_ms: pct(dockerExec, 50),
    docker_exec_p99_ms: pct(dockerExec, 99),
    exec_vs_docker_exec_ratio: Number((pct(agentExec, 50) / pct(dockerExec, 50)).toFixed(3)),
    concurrent_20_wall_ms: Number(execWallMs.toFixed(1)),
    concurrent_20_create_wall_ms: Number(createWallMs.toFixed(1)),
    samples: { warm: WARM_SAMPLES, cold: COLD_SAMPLES, exec: EXEC_SAMPLES, docker_exec: DOCKER_EXEC_SAMPLES },
    limits: LIMITS,
  };
  console.log(JSON.stringify(summary));
} finally {
  await manager?.close().catch(() => {});
  await removeLabeled(docker, run.runId);
  if (networkName) await removeSandboxNetwork(docker, networkName).catch(() => {});
  await redisServer.stop();
}
