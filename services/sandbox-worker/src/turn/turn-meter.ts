// The sandbox's counters read at a turn's start and end, for the turn's usage record: the container's
// cgroup CPU time (ns: the engine host's cgroup file where this process can read it, else Docker's
// one-shot stats, cpu_stats.cpu_usage.total_usage — the same counter) and the bytes the egress proxy
// counted for the sandbox (egress:bytes, in + out). A counter that cannot be read is left out (the
// turn goes on); the egress counter lags by the proxy's batch interval.
import { readFile } from 'node:fs/promises';
import { egressKeys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Sandbox } from '../sandbox.ts';

export type SandboxCounters = { cpuNs?: number; egressBytes?: number };

// Where the engine keeps a container's CPU counter, by cgroup layout: v1 (cgroupfs, systemd), v2
// (systemd, cgroupfs). The first readable one is remembered for the process.
const CGROUP_CPU_FILES: ((id: string) => string)[] = [
  (id) => `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`,
  (id) => `/sys/fs/cgroup/cpu,cpuacct/docker/${id}/cpuacct.usage`,
  (id) => `/sys/fs/cgroup/cpuacct/system.slice/docker-${id}.scope/cpuacct.usage`,
  (id) => `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`,
  (id) => `/sys/fs/cgroup/docker/${id}/cpu.stat`,
];
let cgroupLayout: number | undefined;

/** The container's cgroup CPU time from the host's cgroup files, undefined where they are not visible. */
async function cgroupCpuNs(containerId: string): Promise<number | undefined> {
  // Docker's own id (never a tenant's string): 64 hex digits, or no file is looked up.
  if (!/^[0-9a-f]{64}$/.test(containerId) || cgroupLayout === -1) return undefined;
  const layouts = cgroupLayout === undefined ? CGROUP_CPU_FILES.map((_, i) => i) : [cgroupLayout];
  for (const i of layouts) {
    const text = await readFile((CGROUP_CPU_FILES[i] as (id: string) => string)(containerId), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const ns = text.startsWith('usage_usec') || text.includes('\nusage_usec')
      ? Number(/(?:^|\n)usage_usec (\d+)/.exec(text)?.[1]) * 1000
      : Number(text.trim());
    if (!Number.isFinite(ns)) continue;
    cgroupLayout = i;
    return ns;
  }
  if (cgroupLayout === undefined) cgroupLayout = -1; // a worker that cannot see them never looks again
  return undefined;
}

/** The container's CPU time: the cgroup file (microseconds), else Docker's stats, which answer only at
 * the engine's next 1 s collection tick (up to a second on each turn's start and end). */
async function containerCpuNs(sandbox: Sandbox): Promise<number> {
  const fromCgroup = await cgroupCpuNs(sandbox.containerId);
  if (fromCgroup !== undefined) return fromCgroup;
  const stats = await sandbox.container.stats({ stream: false, 'one-shot': true });
  return Number(stats.cpu_stats?.cpu_usage?.total_usage);
}

export async function readSandboxCounters(redis: Redis, sandbox: Sandbox): Promise<SandboxCounters> {
  const [cpu, egress] = await Promise.allSettled([
    containerCpuNs(sandbox),
    redis.hmget(egressKeys.sandboxBytes(sandbox.id), 'bytes_in', 'bytes_out'),
  ]);
  const out: SandboxCounters = {};
  const ns = cpu.status === 'fulfilled' ? cpu.value : NaN;
  if (Number.isFinite(ns)) out.cpuNs = ns;
  if (egress.status === 'fulfilled') out.egressBytes = Number(egress.value[0] ?? 0) + Number(egress.value[1] ?? 0);
  return out;
}

/** What the turn used between two readings (a counter missing from either reading counts 0). */
export function usedBetween(start: SandboxCounters, end: SandboxCounters): { cpuMs: number; egressBytes: number } {
  const diff = (a?: number, b?: number) => (a !== undefined && b !== undefined ? Math.max(0, b - a) : 0);
  return { cpuMs: Math.round(diff(start.cpuNs, end.cpuNs) / 1e6), egressBytes: diff(start.egressBytes, end.egressBytes) };
}
