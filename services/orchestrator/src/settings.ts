// The orchestrator's settings: the [orchestrator] section of the cluster file with the schema's defaults,
// and the operator key read from the environment variable it names.
import {
  type ClusterSettings,
  OrchestratorSection,
  SANDBOX_WORKER_UNSET,
  SandboxWorkerSection,
  WebhooksSection,
  withDefaults,
} from '@paddock/config';
import { serviceTokenEnvOf } from '@paddock/contracts';
import { allowedImages } from '@paddock/platform';

export type OrchestratorSettings = {
  operatorKey: string | undefined;
  bodyLimitBytes: number;
  /** `requests` per token, `workspaceRequests` per workspace, `anonymousRequests` per client address, per window. */
  rateLimit: { requests: number; windowMs: number; workspaceRequests: number; anonymousRequests: number };
  /** Operator caps on turns accepted and not yet dispatched (a workspace requirement may lower them). */
  maxQueuedTurnsPerThread: number;
  maxQueuedTurnsPerWorkspace: number;
  /** The [webhooks] section (delivery policy, retries, log size). */
  webhooks: {
    allowPrivateDestinations: boolean;
    allowHttp: boolean;
    maxAttempts: number;
    initialBackoffMs: number;
    maxBackoffMs: number;
    requestTimeoutMs: number;
    deliveriesKept: number;
    maxWebhooksPerWorkspace: number;
    maxConcurrentDeliveries: number;
  };
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
  /** GET /metrics listens here (on the orchestrator's bind address), never on the API port. */
  metricsPort: number;
  /** Audit records older than this many days are trimmed (audit-retention.ts). */
  auditRetentionDays: number;

  /** Images an environment may name: `[sandbox_worker] allowed_images` (the workers hold the same list). */
  allowedImages: string[];
  /** The service credential the workers' internal endpoint (files API) requires; unset: that API answers 503. */
  workerServiceToken: string | undefined;
  /** Idle retention of a stopped workspace (`[sandbox_worker] workspace_retention_ms`), for the thread's view. */
  workspaceRetentionMs: number;
  /** Largest files API upload (`[sandbox_worker] files_max_upload_bytes`): refused at the edge too. */
  filesMaxUploadBytes: number;
  /** `[sandbox_worker] idle_ttl_ms`: a running sandbox's container stops after this idle. */
  sandboxIdleTtlMs: number;
};

export function orchestratorSettings(
  cluster: Pick<ClusterSettings, 'file' | 'orchestrator'>,
  env: NodeJS.ProcessEnv = process.env,
): OrchestratorSettings {
  const s = withDefaults(OrchestratorSection, cluster.file.orchestrator);
  const worker = withDefaults(SandboxWorkerSection, cluster.file.sandbox_worker, SANDBOX_WORKER_UNSET);
  const w = withDefaults(WebhooksSection, cluster.file.webhooks);
  return {
    operatorKey: env[cluster.orchestrator.operatorKeyEnv] || undefined,
    bodyLimitBytes: s.body_limit_bytes,
    rateLimit: {
      requests: s.rate_limit.requests,
      windowMs: s.rate_limit.window_ms,
      workspaceRequests: s.rate_limit.workspace_requests,
      anonymousRequests: s.rate_limit.anonymous_requests,
    },
    maxQueuedTurnsPerThread: s.max_queued_turns_per_thread,
    maxQueuedTurnsPerWorkspace: s.max_queued_turns_per_workspace,
    webhooks: {
      allowPrivateDestinations: w.allow_private_destinations,
      allowHttp: w.allow_http,
      maxAttempts: w.max_attempts,
      initialBackoffMs: w.initial_backoff_ms,
      maxBackoffMs: w.max_backoff_ms,
      requestTimeoutMs: w.request_timeout_ms,
      deliveriesKept: w.deliveries_kept,
      maxWebhooksPerWorkspace: w.max_webhooks_per_workspace,
      maxConcurrentDeliveries: w.max_concurrent_deliveries,
    },
    defaultPageSize: s.default_page_size,
    maxPageSize: s.max_page_size,
    maxRunningTurnsPerWorkspace: s.max_running_turns_per_workspace,
    dispatchWindow: s.dispatch_window,
    idempotencyTtlSec: s.idempotency_ttl_s,
    maxEventStreams: s.max_event_streams,
    maxEventStreamsPerWorkspace: s.max_event_streams_per_workspace,
    eventHeartbeatMs: s.event_stream_heartbeat_ms,
    redisDurability: s.redis_durability as 'refuse' | 'warn',
    maxTokensPerMember: s.max_tokens_per_member,
    metricsPort: cluster.orchestrator.metricsPort ?? s.metrics_port,
    auditRetentionDays: s.audit_retention_days,
    allowedImages: allowedImages(cluster.file),
    workerServiceToken: env[serviceTokenEnvOf(cluster.file)] || undefined,
    workspaceRetentionMs: worker.workspace_retention_ms,
    filesMaxUploadBytes: worker.files_max_upload_bytes,
    sandboxIdleTtlMs: worker.idle_ttl_ms,
  };
}
