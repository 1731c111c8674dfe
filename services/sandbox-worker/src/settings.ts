// The worker's sandbox settings: [sandbox_worker] of the cluster file with its defaults applied, and
// the cluster file's model providers (the only model endpoints the worker's agent loop calls).
import {
  AnalyticsSection,
  type ClusterSettings,
  clusterModelProviders,
  envMs,
  type ModelProviders,
  SANDBOX_WORKER_UNSET,
  SandboxWorkerSection,
  withDefaults,
} from '@paddock/config';
import { allowedImages } from '@paddock/platform';
import { requireServiceToken } from '@paddock/contracts';
import type { SandboxLimits } from './container-spec.ts';
import type { OutputCaps } from './turn/item-events.ts';
import type { UsagePricing } from '@paddock/turn-queue';
import type { RepositorySettings } from './repo/repo-policy.ts';

export type SandboxWorkerSettings = {
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
  /** [analytics]: the price table credits are computed from at turn end, and the buckets' retention. */
  pricing: UsagePricing;
  /** A stopped thread workspace is removed this long after its last use. */
  workspaceRetentionMs: number;
  /** Largest files API upload (one file or one tar), bytes. */
  filesMaxUploadBytes: number;
  /** The internal endpoint (files API) for the orchestrator: where it listens, and the URL recorded for it. */
  internal: { host: string; port: number; url: string | undefined };
  /** Repositories in: the hosts and credentials the operator allows, the checkout and diff budgets. */
  repositories: RepositorySettings;
};

/** [analytics] with its defaults, in the consumer's terms. */
export function usagePricing(settings: Pick<ClusterSettings, 'file'>): UsagePricing {
  const a = withDefaults(AnalyticsSection, settings.file.analytics, ['prices']);
  return {
    retentionDays: a.retention_days,
    sandboxCpuSecondCredits: a.sandbox_cpu_second_credits,
    prices: settings.file.analytics?.prices ?? {},
  };
}

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

function envPort(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (!raw) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${name} must be a TCP port, got ${raw}`);
  return port;
}

/** The output budgets of [sandbox_worker.output_caps], defaults applied, in the turn engine's names. */
export const outputCapsFrom = (c: { item_bytes: number; turn_bytes: number; thread_bytes: number }): OutputCaps => ({
  itemBytes: c.item_bytes,
  turnBytes: c.turn_bytes,
  threadBytes: c.thread_bytes,
});

// [sandbox_worker] with the schema's defaults; the turn engine's four budgets may also come from
// their environment variables, which override the file.
export function sandboxWorkerSettings(
  settings: ClusterSettings,
  env: NodeJS.ProcessEnv = process.env,
): SandboxWorkerSettings {
  const s = withDefaults(SandboxWorkerSection, settings.file.sandbox_worker, SANDBOX_WORKER_UNSET);
  const l = s.limits;
  return {
    image: s.image,
    warmPoolSize: s.warm_pool_size,
    limits: {
      cpus: l.cpus,
      memoryMb: l.memory_mb,
      pids: l.pids,
      tmpMb: l.tmp_mb,
      homeMb: l.home_mb,
      lifetimeMs: l.lifetime_ms,
      workspaceDiskMb: l.workspace_disk_mb,
    },
    leaseMs: s.lease_ms,
    reapIntervalMs: s.reap_interval_ms,
    idleTtlMs: s.idle_ttl_ms,
    execTimeoutMs: s.exec_timeout_ms,
    maxOutputBytes: s.max_output_bytes,
    proxyPort: settings.egressProxy.port,
    guardianUrl: settings.guardian.url,
    guardianServiceToken: requireServiceToken(settings, env),
    concurrency: s.concurrency,
    reviewDeadlineMs: envMs(env, 'PADDOCK_REVIEW_DEADLINE_MS', s.review_deadline_ms),
    approvalTimeoutMs: envMs(env, 'PADDOCK_APPROVAL_TIMEOUT_MS', s.approval_timeout_ms),
    outputThrottleMs: envMs(env, 'PADDOCK_OUTPUT_THROTTLE_MS', s.output_throttle_ms),
    turnLockMs: envMs(env, 'PADDOCK_TURN_LOCK_MS', s.turn_lock_ms),
    scope: envLabels(env, 'PADDOCK_SANDBOX_SCOPE'),
    modelProviders: clusterModelProviders(settings.file),

    allowedImages: allowedImages(settings.file),
    dataDir: s.data_dir,
    // Whether the file set it, not its value: the default is applied above.
    workspaceDiskExplicit: settings.file.sandbox_worker?.limits?.workspace_disk_mb !== undefined,
    outputCaps: outputCapsFrom(s.output_caps),
    pricing: usagePricing(settings),
    workspaceRetentionMs: s.workspace_retention_ms,
    filesMaxUploadBytes: s.files_max_upload_bytes,
    // Deployments (compose, the DaemonSet) set the internal endpoint per host through the environment.
    internal: {
      host: env['PADDOCK_SANDBOX_WORKER_INTERNAL_HOST'] || s.internal_host,
      port: envPort(env, 'PADDOCK_SANDBOX_WORKER_INTERNAL_PORT', s.internal_port),
      url: env['PADDOCK_SANDBOX_WORKER_INTERNAL_URL'] || s.internal_url,
    },
    repositories: {
      hosts: s.repository_hosts,
      credentials: s.repository_credentials ?? {},
      checkoutTimeoutMs: s.checkout_timeout_ms,
      diffMaxBytes: s.diff_max_bytes,
    },
  };
}
