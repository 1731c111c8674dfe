// The worker's sandbox settings: [sandbox_worker] of the cluster file with its defaults applied.
import type { ClusterSettings } from '@paddock/shared';
import type { SandboxLimits } from './container-spec.ts';

export type SandboxRuntimeConfig = {
  image: string | undefined;
  warmPoolSize: number;
  limits: SandboxLimits;
  leaseMs: number;
  reapIntervalMs: number;
  idleTtlMs: number;
  execTimeoutMs: number;
  maxOutputBytes: number;
  proxyPort: number;
};

export function sandboxRuntimeConfig(settings: ClusterSettings): SandboxRuntimeConfig {
  const s = settings.file.sandbox_worker ?? {};
  const l = s.limits ?? {};
  return {
    image: s.image,
    warmPoolSize: s.warm_pool_size ?? 2,
    limits: {
      cpus: l.cpus ?? 1,
      memoryMb: l.memory_mb ?? 1024,
      pids: l.pids ?? 256,
      tmpMb: l.tmp_mb ?? 256,
      homeMb: l.home_mb ?? 64,
      lifetimeMs: l.lifetime_ms ?? 4 * 3600_000,
    },
    leaseMs: s.lease_ms ?? 15_000,
    reapIntervalMs: s.reap_interval_ms ?? 10_000,
    idleTtlMs: s.idle_ttl_ms ?? 30 * 60_000,
    execTimeoutMs: s.exec_timeout_ms ?? 120_000,
    maxOutputBytes: s.max_output_bytes ?? 1024 * 1024,
    proxyPort: settings.egressProxy.port,
  };
}
