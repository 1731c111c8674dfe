// The cluster file (paddock.toml) and the PADDOCK_* environment variables that override its
// service sections: what each service's main.ts reads at start-up.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AgentConfig, type ClusterFile } from './schema.ts';
import { ConfigError, type ConfigLayer, readClusterFile } from './resolve.ts';

export type Listen = { host: string; port: number };

export type ClusterSettings = {
  /** The cluster file's path, or undefined when none was found (built-in defaults only). */
  configPath: string | undefined;
  file: ClusterFile;
  redisUrl: string | undefined;
  orchestrator: Listen & { operatorKeyEnv: string };
  guardian: Listen & { url: string };
  egressProxy: Listen;
  sandboxWorker: Listen & { concurrency: number };
};

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

export function loadClusterSettings(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): ClusterSettings {
  const configPath = clusterFilePath(env, cwd);
  const file: ClusterFile = configPath ? readClusterFile(configPath) : {};
  const host = (section: { host?: string } | undefined, name: string) =>
    env[name] || section?.host || '127.0.0.1';
  const guardianHost = host(file.guardian, 'PADDOCK_GUARDIAN_HOST');
  const guardianPort = port(env, 'PADDOCK_GUARDIAN_PORT', file.guardian?.port ?? 8081);
  return {
    configPath,
    file,
    redisUrl: env['PADDOCK_REDIS_URL'] || file.redis?.url,
    orchestrator: {
      host: host(file.orchestrator, 'PADDOCK_ORCHESTRATOR_HOST'),
      port: port(env, 'PADDOCK_ORCHESTRATOR_PORT', file.orchestrator?.port ?? 8080),
      operatorKeyEnv: file.orchestrator?.operator_key_env ?? 'PADDOCK_OPERATOR_KEY',
    },
    guardian: {
      host: guardianHost,
      port: guardianPort,
      url: env['PADDOCK_GUARDIAN_URL'] || file.guardian?.url || `http://${guardianHost}:${guardianPort}`,
    },
    egressProxy: {
      host: host(file.egress_proxy, 'PADDOCK_EGRESS_PROXY_HOST'),
      port: port(env, 'PADDOCK_EGRESS_PROXY_PORT', file.egress_proxy?.port ?? 3128),
    },
    sandboxWorker: {
      host: host(file.sandbox_worker, 'PADDOCK_SANDBOX_WORKER_HOST'),
      port: port(env, 'PADDOCK_SANDBOX_WORKER_PORT', file.sandbox_worker?.port ?? 8083),
      concurrency: file.sandbox_worker?.concurrency ?? 4,
    },
  };
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
