// The orchestrator's settings: the [orchestrator] section of the cluster file with its defaults,
// and the operator key read from the environment variable it names.
import type { ClusterSettings } from '@paddock/config';
import { allowedImages } from '@paddock/platform';

export type OrchestratorSettings = {
  operatorKey: string | undefined;
  bodyLimitBytes: number;
  rateLimit: { requests: number; windowMs: number };
  defaultPageSize: number;
  maxPageSize: number;
  maxRunningTurnsPerWorkspace: number;
  dispatchWindow: number;
  idempotencyTtlSec: number;
  maxEventStreams: number;
  maxEventStreamsPerWorkspace: number;
  eventHeartbeatMs: number;
  redisDurability: 'refuse' | 'warn';
  maxTokensPerMember: number;

  /** Images an environment may name: `[sandbox_worker] allowed_images` (the workers hold the same list). */
  allowedImages: string[];
};

export function orchestratorSettings(
  cluster: Pick<ClusterSettings, 'file' | 'orchestrator'>,
  env: NodeJS.ProcessEnv = process.env,
): OrchestratorSettings {
  const s = cluster.file.orchestrator ?? {};
  return {
    operatorKey: env[cluster.orchestrator.operatorKeyEnv] || undefined,
    bodyLimitBytes: s.body_limit_bytes ?? 1_048_576,
    rateLimit: { requests: s.rate_limit?.requests ?? 600, windowMs: s.rate_limit?.window_ms ?? 60_000 },
    defaultPageSize: s.default_page_size ?? 20,
    maxPageSize: s.max_page_size ?? 100,
    maxRunningTurnsPerWorkspace: s.max_running_turns_per_workspace ?? 4,
    dispatchWindow: s.dispatch_window ?? 8,
    idempotencyTtlSec: s.idempotency_ttl_s ?? 86_400,
    maxEventStreams: s.max_event_streams ?? 1000,
    maxEventStreamsPerWorkspace: s.max_event_streams_per_workspace ?? 100,
    eventHeartbeatMs: s.event_stream_heartbeat_ms ?? 15_000,
    redisDurability: (s.redis_durability as 'refuse' | 'warn' | undefined) ?? 'refuse',
    maxTokensPerMember: s.max_tokens_per_member ?? 50,
    allowedImages: allowedImages(cluster.file),
  };
}
