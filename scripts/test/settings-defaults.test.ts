// Defaults, once: an empty cluster file gives every service exactly the schema's defaults, read from
// the schema itself (its `default` keywords), through each service's own settings module.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ClusterFile,
  type ClusterSettings,
  EgressProxySection,
  GuardianSection,
  loadClusterSettings,
  OrchestratorSection,
  SandboxWorkerSection,
} from '@paddock/config';
import { serviceTokenEnvOf } from '@paddock/contracts';
import { egressProxySettings } from '@paddock/egress-proxy';
import { guardianSettings } from '@paddock/guardian';
import { orchestratorSettings } from '@paddock/orchestrator';
import { sandboxWorkerSettings } from '@paddock/sandbox-worker';
import type { TSchema } from 'typebox';

type Node = { properties?: Record<string, Node>; default?: unknown };
/** The schema's `default` of a dotted key path, e.g. `sandbox_worker.limits.cpus`; throws when it has none. */
function schemaDefault(path: string): unknown {
  let node: Node | undefined = ClusterFile as TSchema as Node;
  for (const segment of path.split('.')) node = node?.properties?.[segment];
  assert.ok(node && 'default' in node, `the schema gives ${path} no default`);
  return node.default;
}
/** Every key path under `section` that has a default (objects recurse), for the coverage check. */
function defaultedPaths(schema: Node, prefix: string): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([key, child]) =>
    'default' in child ? [`${prefix}.${key}`] : defaultedPaths(child, `${prefix}.${key}`),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'paddock-defaults-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'paddock.toml'), '# an empty cluster file\n');
const cluster: ClusterSettings = loadClusterSettings({ PADDOCK_CONFIG: join(dir, 'paddock.toml') }, dir);
// The one variable every service needs at start: the guardian's service credential (no default).
const noEnv = { PADDOCK_GUARDIAN_SERVICE_TOKEN: 'x'.repeat(43) };

/** settings field -> schema key path, per service: what each settings module renames. */
const RENAMES = {
  orchestrator: {
    bodyLimitBytes: 'orchestrator.body_limit_bytes',
    metricsPort: 'orchestrator.metrics_port',
    'rateLimit.requests': 'orchestrator.rate_limit.requests',
    'rateLimit.windowMs': 'orchestrator.rate_limit.window_ms',
    'rateLimit.workspaceRequests': 'orchestrator.rate_limit.workspace_requests',
    'rateLimit.anonymousRequests': 'orchestrator.rate_limit.anonymous_requests',
    maxQueuedTurnsPerThread: 'orchestrator.max_queued_turns_per_thread',
    maxQueuedTurnsPerWorkspace: 'orchestrator.max_queued_turns_per_workspace',
    'webhooks.allowPrivateDestinations': 'webhooks.allow_private_destinations',
    'webhooks.allowHttp': 'webhooks.allow_http',
    'webhooks.maxAttempts': 'webhooks.max_attempts',
    'webhooks.initialBackoffMs': 'webhooks.initial_backoff_ms',
    'webhooks.maxBackoffMs': 'webhooks.max_backoff_ms',
    'webhooks.requestTimeoutMs': 'webhooks.request_timeout_ms',
    'webhooks.deliveriesKept': 'webhooks.deliveries_kept',
    'webhooks.maxWebhooksPerWorkspace': 'webhooks.max_webhooks_per_workspace',
    'webhooks.maxConcurrentDeliveries': 'webhooks.max_concurrent_deliveries',
    defaultPageSize: 'orchestrator.default_page_size',
    maxPageSize: 'orchestrator.max_page_size',
    maxRunningTurnsPerWorkspace: 'orchestrator.max_running_turns_per_workspace',
    dispatchWindow: 'orchestrator.dispatch_window',
    idempotencyTtlSec: 'orchestrator.idempotency_ttl_s',
    maxEventStreams: 'orchestrator.max_event_streams',
    maxEventStreamsPerWorkspace: 'orchestrator.max_event_streams_per_workspace',
    eventHeartbeatMs: 'orchestrator.event_stream_heartbeat_ms',
    redisDurability: 'orchestrator.redis_durability',
    maxTokensPerMember: 'orchestrator.max_tokens_per_member',
    auditRetentionDays: 'orchestrator.audit_retention_days',
    // Read by the API too (the thread's sandbox view, the files API's edge limit).
    workspaceRetentionMs: 'sandbox_worker.workspace_retention_ms',
    filesMaxUploadBytes: 'sandbox_worker.files_max_upload_bytes',
    sandboxIdleTtlMs: 'sandbox_worker.idle_ttl_ms',
  },
  guardian: {
    host: 'guardian.host',
    port: 'guardian.port',
    maxInFlight: 'guardian.max_in_flight',
    maxQueue: 'guardian.max_queue',
    expectedModelLatencyMs: 'guardian.expected_model_latency_ms',
    maxDeadlineMs: 'guardian.max_deadline_ms',
    maxEventLoopLagMs: 'guardian.max_event_loop_lag_ms',
    answerMarginMs: 'guardian.answer_margin_ms',
    maxRetries: 'guardian.max_retries',
    retryBackoffMs: 'guardian.retry_backoff_ms',
    highRiskMinAuthorization: 'guardian.high_risk_min_authorization',
    transcriptMaxChars: 'guardian.transcript_max_chars',
    transcriptItemMaxChars: 'guardian.transcript_item_max_chars',
    verdictCacheEntries: 'guardian.verdict_cache_entries',
    verdictCacheTtlMs: 'guardian.verdict_cache_ttl_ms',
    policyWording: 'guardian.policy_wording',
  },
  egressProxy: {
    'options.connectTimeoutMs': 'egress_proxy.connect_timeout_ms',
    'options.idleTimeoutMs': 'egress_proxy.idle_timeout_ms',
    'options.requestHeaderTimeoutMs': 'egress_proxy.request_header_timeout_ms',
    'options.upstreamResponseTimeoutMs': 'egress_proxy.upstream_response_timeout_ms',
    'options.clientHelloTimeoutMs': 'egress_proxy.client_hello_timeout_ms',
    'options.reviewDeadlineMs': 'egress_proxy.review_deadline_ms',
    'options.approvalTimeoutMs': 'sandbox_worker.approval_timeout_ms',
    'options.threadGrantTtlMs': 'egress_proxy.thread_grant_ttl_ms',
    'options.maxConnectionsPerSandbox': 'egress_proxy.max_connections_per_sandbox',
    'options.tlsPorts': 'egress_proxy.tls_ports',
    'options.allowedPrivateRanges': 'egress_proxy.allowed_private_ranges',
    'options.auditMaxPending': 'egress_proxy.audit_max_pending',
    hosts: 'egress_proxy.hosts',
    'listeners.0.host': 'egress_proxy.host',
    'listeners.0.port': 'egress_proxy.port',
  },
  sandboxWorker: {
    warmPoolSize: 'sandbox_worker.warm_pool_size',
    'limits.cpus': 'sandbox_worker.limits.cpus',
    'limits.memoryMb': 'sandbox_worker.limits.memory_mb',
    'limits.pids': 'sandbox_worker.limits.pids',
    'limits.tmpMb': 'sandbox_worker.limits.tmp_mb',
    'limits.homeMb': 'sandbox_worker.limits.home_mb',
    'limits.lifetimeMs': 'sandbox_worker.limits.lifetime_ms',
    'limits.workspaceDiskMb': 'sandbox_worker.limits.workspace_disk_mb',
    dataDir: 'sandbox_worker.data_dir',
    'outputCaps.itemBytes': 'sandbox_worker.output_caps.item_bytes',
    'outputCaps.turnBytes': 'sandbox_worker.output_caps.turn_bytes',
    'outputCaps.threadBytes': 'sandbox_worker.output_caps.thread_bytes',
    workspaceRetentionMs: 'sandbox_worker.workspace_retention_ms',
    filesMaxUploadBytes: 'sandbox_worker.files_max_upload_bytes',
    'internal.host': 'sandbox_worker.internal_host',
    'internal.port': 'sandbox_worker.internal_port',
    leaseMs: 'sandbox_worker.lease_ms',
    reapIntervalMs: 'sandbox_worker.reap_interval_ms',
    idleTtlMs: 'sandbox_worker.idle_ttl_ms',
    execTimeoutMs: 'sandbox_worker.exec_timeout_ms',
    maxOutputBytes: 'sandbox_worker.max_output_bytes',
    proxyPort: 'egress_proxy.port',
    concurrency: 'sandbox_worker.concurrency',
    reviewDeadlineMs: 'sandbox_worker.review_deadline_ms',
    approvalTimeoutMs: 'sandbox_worker.approval_timeout_ms',
    outputThrottleMs: 'sandbox_worker.output_throttle_ms',
    turnLockMs: 'sandbox_worker.turn_lock_ms',
    'repositories.hosts': 'sandbox_worker.repository_hosts',
    'repositories.checkoutTimeoutMs': 'sandbox_worker.checkout_timeout_ms',
    'repositories.diffMaxBytes': 'sandbox_worker.diff_max_bytes',
  },
} as const;

/** Keys naming the environment variable a secret is read from, not a setting's value. */
const NAMES_OF_VARIABLES = ['orchestrator.operator_key_env', 'guardian.service_token_env'];

const at = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value);

describe('an empty cluster file yields exactly the schema defaults', () => {
  const settings = {
    orchestrator: orchestratorSettings(cluster, noEnv),
    guardian: guardianSettings(cluster, noEnv),
    egressProxy: egressProxySettings(cluster, noEnv),
    sandboxWorker: sandboxWorkerSettings(cluster, noEnv),
  };
  for (const [service, renames] of Object.entries(RENAMES)) {
    test(`${service}: every renamed value is the schema's default`, () => {
      const value = settings[service as keyof typeof settings];
      for (const [field, path] of Object.entries(renames)) {
        assert.deepEqual(at(value, field), schemaDefault(path), `${service} ${field} (${path})`);
      }
    });
  }

  test('every defaulted key of the four service sections reaches some service setting', () => {
    const used = new Set(Object.values(RENAMES).flatMap((r) => Object.values(r) as string[]));
    const sections = {
      orchestrator: OrchestratorSection,
      guardian: GuardianSection,
      egress_proxy: EgressProxySection,
      sandbox_worker: SandboxWorkerSection,
    };
    // Keys that name an environment variable (checked below), and listener addresses the cluster
    // settings use (each service binds its own host:port).
    const listeners = ['orchestrator.host', 'orchestrator.port', 'egress_proxy.host', 'sandbox_worker.host', 'sandbox_worker.port'];
    const unread = Object.entries(sections)
      .flatMap(([name, schema]) => defaultedPaths(schema as TSchema as Node, name))
      .filter((p) => !used.has(p) && !listeners.includes(p) && !NAMES_OF_VARIABLES.includes(p) && p !== 'egress_proxy.sandbox_networks');
    assert.deepEqual(unread, []);
  });

  test('[redis] retention and memory bound: the schema defaults', () => {
    assert.deepEqual(cluster.redis, {
      eventsMaxPerThread: schemaDefault('redis.events_max_per_thread'),
      eventsRetentionMs: schemaDefault('redis.events_retention_ms'),
      auditMaxPerWorkspace: schemaDefault('redis.audit_max_per_workspace'),
      maxmemoryMb: schemaDefault('redis.maxmemory_mb'),
    });
  });

  test('the cluster-wide listeners and names are the schema defaults too', () => {
    assert.equal(cluster.orchestrator.host, schemaDefault('orchestrator.host'));
    assert.equal(cluster.orchestrator.port, schemaDefault('orchestrator.port'));
    assert.equal(cluster.orchestrator.operatorKeyEnv, schemaDefault('orchestrator.operator_key_env'));
    assert.equal(serviceTokenEnvOf(cluster.file), schemaDefault('guardian.service_token_env'));
    assert.equal(cluster.sandboxWorker.port, schemaDefault('sandbox_worker.port'));
    assert.equal(cluster.sandboxWorker.host, schemaDefault('sandbox_worker.host'));
    assert.equal(cluster.egressProxy.host, schemaDefault('egress_proxy.host'));
    assert.deepEqual(settings.egressProxy.listeners, [
      { network: 'host', host: schemaDefault('egress_proxy.host'), port: schemaDefault('egress_proxy.port') },
    ]);
    assert.equal(cluster.guardian.url, `http://${schemaDefault('guardian.host')}:${schemaDefault('guardian.port')}`);
    // [cluster] shutdown_grace_ms: every service's shutdown budget, read once for all of them.
    assert.equal(cluster.shutdownGraceMs, schemaDefault('cluster.shutdown_grace_ms'));
    assert.equal(loadClusterSettings({ PADDOCK_CONFIG: join(dir, 'paddock.toml'), PADDOCK_SHUTDOWN_GRACE_MS: '9000' }, dir).shutdownGraceMs, 9000);
  });

  test('the four turn-engine budgets are schema keys, and their environment variables still override them', () => {
    const overridden = sandboxWorkerSettings(cluster, {
      ...noEnv,
      PADDOCK_APPROVAL_TIMEOUT_MS: '1234',
      PADDOCK_REVIEW_DEADLINE_MS: '2345',
      PADDOCK_OUTPUT_THROTTLE_MS: '34',
      PADDOCK_TURN_LOCK_MS: '4567',
    });
    assert.deepEqual(
      [overridden.approvalTimeoutMs, overridden.reviewDeadlineMs, overridden.outputThrottleMs, overridden.turnLockMs],
      [1234, 2345, 34, 4567],
    );
    assert.equal(egressProxySettings(cluster, { ...noEnv, PADDOCK_APPROVAL_TIMEOUT_MS: '1234' }).options.approvalTimeoutMs, 1234);
    const file = join(dir, 'budgets.toml');
    writeFileSync(file, '[sandbox_worker]\napproval_timeout_ms = 5000\nturn_lock_ms = 6000\n');
    const fromFile = loadClusterSettings({ PADDOCK_CONFIG: file }, dir);
    assert.equal(sandboxWorkerSettings(fromFile, noEnv).approvalTimeoutMs, 5000);
    assert.equal(sandboxWorkerSettings(fromFile, noEnv).turnLockMs, 6000);
    assert.equal(egressProxySettings(fromFile, noEnv).options.approvalTimeoutMs, 5000);
  });
});
