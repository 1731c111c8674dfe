// The worker's sandbox settings: [sandbox_worker] of the cluster file with its defaults applied, and
// the cluster file's model providers (the only model endpoints the worker's agent loop calls).
import { type ClusterSettings, clusterModelProviders, envMs, type ModelProviders } from '@paddock/config';
import { allowedImages } from '@paddock/platform';
import { requireServiceToken } from '@paddock/contracts';
import type { SandboxLimits } from './container-spec.ts';
import { DEFAULT_OUTPUT_CAPS, type OutputCaps } from './turn/item-events.ts';

/** `[sandbox_worker.limits] workspace_disk_mb` when the cluster file leaves it unset. */
export const DEFAULT_WORKSPACE_DISK_MB = 8192;

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
  guardianUrl: string;
  /** The guardian's service credential, sent with every review. */
  guardianServiceToken: string;
  concurrency: number;
  reviewDeadlineMs: number;
  approvalTimeoutMs: number;
  outputThrottleMs: number;
  turnLockMs: number;
  /** Extra labels on everything this worker creates, and the only resources its reaper touches. */
  scope: Record<string, string> | undefined;
  modelProviders: ModelProviders;

  /** Images a sandbox may be created from (the operator's allowlist; the worker's own image too). */
  allowedImages: string[];
  /** Where the worker keeps its own files (workspace disk images). */
  dataDir: string;
  /** The operator set `workspace_disk_mb` (then missing loop devices stop the worker, not the quota). */
  workspaceDiskExplicit: boolean;
  /** Command output kept in the thread's events, per item, turn and thread stream. */
  outputCaps: OutputCaps;
};

/**
 * `PADDOCK_SANDBOX_SCOPE=key=value[,key=value]`: lets several Paddock clusters (or test runs) share
 * one Docker engine without one's reaper removing the other's sandboxes.
 */
function envLabels(env: NodeJS.ProcessEnv, name: string): Record<string, string> | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const pairs = raw.split(',').map((p) => p.trim().split('='));
  if (pairs.some((p) => p.length !== 2 || !/^[a-z0-9.-]+$/i.test(p[0]!) || p[1] === '')) {
    throw new Error(`${name} must be key=value[,key=value], got ${raw}`);
  }
  return Object.fromEntries(pairs as [string, string][]);
}

// Turn-engine budgets not (yet) in the cluster file's schema: environment variables, with defaults.
export function sandboxRuntimeConfig(
  settings: ClusterSettings,
  env: NodeJS.ProcessEnv = process.env,
): SandboxRuntimeConfig {
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
      workspaceDiskMb: l.workspace_disk_mb ?? DEFAULT_WORKSPACE_DISK_MB,
    },
    leaseMs: s.lease_ms ?? 15_000,
    reapIntervalMs: s.reap_interval_ms ?? 10_000,
    idleTtlMs: s.idle_ttl_ms ?? 30 * 60_000,
    execTimeoutMs: s.exec_timeout_ms ?? 120_000,
    maxOutputBytes: s.max_output_bytes ?? 1024 * 1024,
    proxyPort: settings.egressProxy.port,
    guardianUrl: settings.guardian.url,
    guardianServiceToken: requireServiceToken(settings, env),
    concurrency: s.concurrency ?? 4,
    reviewDeadlineMs: envMs(env, 'PADDOCK_REVIEW_DEADLINE_MS', 30_000),
    approvalTimeoutMs: envMs(env, 'PADDOCK_APPROVAL_TIMEOUT_MS', 10 * 60_000),
    outputThrottleMs: envMs(env, 'PADDOCK_OUTPUT_THROTTLE_MS', 250),
    turnLockMs: envMs(env, 'PADDOCK_TURN_LOCK_MS', 30_000),
    scope: envLabels(env, 'PADDOCK_SANDBOX_SCOPE'),
    modelProviders: clusterModelProviders(settings.file),

    allowedImages: allowedImages(settings.file),
    dataDir: s.data_dir ?? '/var/lib/paddock/sandbox-worker',
    workspaceDiskExplicit: l.workspace_disk_mb !== undefined,
    outputCaps: {
      itemBytes: s.output_caps?.item_bytes ?? DEFAULT_OUTPUT_CAPS.itemBytes,
      turnBytes: s.output_caps?.turn_bytes ?? DEFAULT_OUTPUT_CAPS.turnBytes,
      threadBytes: s.output_caps?.thread_bytes ?? DEFAULT_OUTPUT_CAPS.threadBytes,
    },
  };
}
