// The cluster file (paddock.toml) and the PADDOCK_* environment variables that override its
// service sections: what each service's main.ts reads at start-up.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultOf, withDefaults } from './defaults.ts';
import { AgentConfig, type ClusterFile } from './schema.ts';
import { ConfigError, type ConfigLayer, DEFAULT_AGENT_CONFIG, readClusterFile } from './resolve.ts';
import { EgressProxySection } from './sections/egress-proxy.ts';
import { GuardianSection } from './sections/guardian.ts';
import { OrchestratorSection } from './sections/orchestrator.ts';
import { RedisSection } from './sections/redis.ts';
import { SandboxWorkerSection } from './sections/sandbox-worker.ts';
import { ClusterSection } from './sections/cluster.ts';
import { envMs } from './env-ms.ts';

export type Listen = { host: string; port: number };

export type ClusterSettings = {
  /** The cluster file's path, or undefined when none was found (built-in defaults only). */
  configPath: string | undefined;
  file: ClusterFile;
  redisUrl: string | undefined;
  /** metricsPort: `[orchestrator] metrics_port` or PADDOCK_ORCHESTRATOR_METRICS_PORT (absent in hand-made settings: the schema's). */
  orchestrator: Listen & { operatorKeyEnv: string; metricsPort?: number };
  guardian: Listen & { url: string };
  egressProxy: Listen;
  sandboxWorker: Listen & { concurrency: number };
  /** `[cluster] shutdown_grace_ms` or PADDOCK_SHUTDOWN_GRACE_MS: every service's shutdown budget. */
  shutdownGraceMs: number;
  /** [redis] retention and memory bound (absent in hand-made settings: the schema's defaults). */
  redis?: RedisLimits;
};

/** How much of Redis the growing streams may hold, read once from [redis] by every service. */
export type RedisLimits = {
  eventsMaxPerThread: number;
  eventsRetentionMs: number;
  auditMaxPerWorkspace: number;
  maxmemoryMb: number;
};

/** The [redis] limits of a cluster file (the schema's defaults for every key it leaves out). */
export function redisLimits(file: ClusterFile): RedisLimits {
  const r = withDefaults(RedisSection, file.redis, ['url']);
  return {
    eventsMaxPerThread: r.events_max_per_thread,
    eventsRetentionMs: r.events_retention_ms,
    auditMaxPerWorkspace: r.audit_max_per_workspace,
    maxmemoryMb: r.maxmemory_mb,
  };
}

/** `PADDOCK_CONFIG`, else `./paddock.toml` when it exists. */
export function clusterFilePath(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): string | undefined {
  if (env['PADDOCK_CONFIG']) return resolve(cwd, env['PADDOCK_CONFIG']);
  const local = resolve(cwd, 'paddock.toml');
  return existsSync(local) ? local : undefined;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError([{ source: 'environment', path: name, message: 'must be a TCP port (0-65535)' }]);
  }
  return n;
}

/** [guardian] keys whose absence means "derive it" (from the provider, the cluster model, host:port). */
export const GUARDIAN_UNSET = ['url', 'model_provider', 'base_url', 'model', 'api_key_env'] as const;
/** [sandbox_worker] keys whose absence means something: the built image; the built images' allowlist. */
export const SANDBOX_WORKER_UNSET = ['image', 'allowed_images', 'internal_url', 'repository_credentials'] as const;

export function loadClusterSettings(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): ClusterSettings {
  const configPath = clusterFilePath(env, cwd);
  const file: ClusterFile = withOpenAiBaseUrl(configPath ? readClusterFile(configPath) : {}, env);
  const orchestrator = withDefaults(OrchestratorSection, file.orchestrator);
  const guardian = withDefaults(GuardianSection, file.guardian, GUARDIAN_UNSET);
  const egressProxy = withDefaults(EgressProxySection, file.egress_proxy);
  const sandboxWorker = withDefaults(SandboxWorkerSection, file.sandbox_worker, SANDBOX_WORKER_UNSET);
  // An empty host in the file means the default bind address, never "every interface".
  const host = (section: { host: string }, name: string) =>
    env[name] || section.host || defaultOf(OrchestratorSection, 'host');
  const guardianHost = host(guardian, 'PADDOCK_GUARDIAN_HOST');
  const guardianPort = port(env, 'PADDOCK_GUARDIAN_PORT', guardian.port);
  return {
    configPath,
    file,
    redisUrl: env['PADDOCK_REDIS_URL'] || file.redis?.url,
    redis: redisLimits(file),
    orchestrator: {
      host: host(orchestrator, 'PADDOCK_ORCHESTRATOR_HOST'),
      port: port(env, 'PADDOCK_ORCHESTRATOR_PORT', orchestrator.port),
      operatorKeyEnv: orchestrator.operator_key_env,
      metricsPort: port(env, 'PADDOCK_ORCHESTRATOR_METRICS_PORT', orchestrator.metrics_port),
    },
    guardian: {
      host: guardianHost,
      port: guardianPort,
      url: env['PADDOCK_GUARDIAN_URL'] || guardian.url || `http://${guardianHost}:${guardianPort}`,
    },
    egressProxy: {
      host: host(egressProxy, 'PADDOCK_EGRESS_PROXY_HOST'),
      port: port(env, 'PADDOCK_EGRESS_PROXY_PORT', egressProxy.port),
    },
    sandboxWorker: {
      host: host(sandboxWorker, 'PADDOCK_SANDBOX_WORKER_HOST'),
      port: port(env, 'PADDOCK_SANDBOX_WORKER_PORT', sandboxWorker.port),
      concurrency: sandboxWorker.concurrency,
    },
    shutdownGraceMs: envMs(env, 'PADDOCK_SHUTDOWN_GRACE_MS', withDefaults(ClusterSection, file.cluster).shutdown_grace_ms),
  };
}

/**
 * The built-in `openai` provider honours OPENAI_BASE_URL, as OpenAI's own clients do (an operator's
 * variable, read where the cluster file is: the provider table stays operator-owned). A cluster file
 * that defines `[model_providers.openai]` itself wins; the key stays OPENAI_API_KEY.
 */
export function withOpenAiBaseUrl(file: ClusterFile, env: NodeJS.ProcessEnv): ClusterFile {
  const baseUrl = env['OPENAI_BASE_URL'];
  if (!baseUrl || file.model_providers?.['openai']) return file;
  if (!/^https?:\/\//.test(baseUrl)) {
    throw new ConfigError([{ source: 'environment', path: 'OPENAI_BASE_URL', message: 'must be an http(s) URL, e.g. http://127.0.0.1:11434/v1' }]);
  }
  const openai = { ...DEFAULT_AGENT_CONFIG.model_providers.openai, base_url: baseUrl };
  return { ...file, model_providers: { ...file.model_providers, openai } };
}

/** For main.ts: the Redis URL or a clear start-up error. */
export function requireRedisUrl(settings: ClusterSettings): string {
  if (!settings.redisUrl) {
    throw new ConfigError([
      {
        source: 'environment',
        path: 'redis.url',
        message: 'no Redis configured: set PADDOCK_REDIS_URL or [redis].url',
      },
    ]);
  }
  return settings.redisUrl;
}

/**
 * The cluster file's agent keys as the `cluster` layer of resolveConfig. Taken by the agent schema's
 * own key list, so a service section added later can never leak into an agent layer.
 */
export function clusterLayer(settings: { file: ClusterFile; configPath?: string | undefined }): ConfigLayer {
  const f = settings.file as Record<string, unknown>;
  const value = Object.fromEntries(AGENT_KEYS.filter((k) => f[k] !== undefined).map((k) => [k, f[k]]));
  return { layer: 'cluster', source: settings.configPath ?? 'paddock.toml', value };
}
const AGENT_KEYS = Object.keys(AgentConfig.properties);
