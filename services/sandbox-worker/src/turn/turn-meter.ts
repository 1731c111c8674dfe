// The sandbox's counters read at a turn's start and end, for the turn's usage record: the container's
// cgroup CPU time (Docker's one-shot stats, cpu_stats.cpu_usage.total_usage, ns) and the bytes the
// egress proxy counted for the sandbox (egress:bytes, in + out). A counter that cannot be read is
// left out (the turn goes on); the egress counter lags by the proxy's batch interval.
import { egressKeys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Sandbox } from '../sandbox.ts';

export type SandboxCounters = { cpuNs?: number; egressBytes?: number };

export async function readSandboxCounters(redis: Redis, sandbox: Sandbox): Promise<SandboxCounters> {
  const [cpu, egress] = await Promise.allSettled([
    sandbox.container.stats({ stream: false, 'one-shot': true }),
    redis.hmget(egressKeys.sandboxBytes(sandbox.id), 'bytes_in', 'bytes_out'),
  ]);
  const out: SandboxCounters = {};
  const ns = cpu.status === 'fulfilled' ? Number(cpu.value.cpu_stats?.cpu_usage?.total_usage) : NaN;
  if (Number.isFinite(ns)) out.cpuNs = ns;
  if (egress.status === 'fulfilled') out.egressBytes = Number(egress.value[0] ?? 0) + Number(egress.value[1] ?? 0);
  return out;
}

/** What the turn used between two readings (a counter missing from either reading counts 0). */
export function usedBetween(start: SandboxCounters, end: SandboxCounters): { cpuMs: number; egressBytes: number } {
  const diff = (a?: number, b?: number) => (a !== undefined && b !== undefined ? Math.max(0, b - a) : 0);
  return { cpuMs: Math.round(diff(start.cpuNs, end.cpuNs) / 1e6), egressBytes: diff(start.egressBytes, end.egressBytes) };
}
