// Config resolution for threads and turns: the cluster file's agent keys, the environment's TOML,
// the thread's and the turn's config, constrained by the cluster's and the workspace's managed
// requirements. A refusal is the shared ConfigError: 400 naming the key and the constraint or owner.
// Only the request's own layer (the last) is new input; the layers below it were stored earlier, so a
// key they may no longer set is dropped with a logged warning rather than breaking the thread.
import {
  type ClusterFile,
  clusterLayer,
  ConfigError,
  type ConfigIssue,
  type ConfigLayer,
  domainWithinAny,
  type EffectiveConfig,
  pathWithinAny,
  parseRulesFile,
  parseTomlText,
  readRequirements,
  type Requirements,
  resolveConfig,
} from '@paddock/config';
import { createLogger, PaddockError } from '@paddock/platform';
import { keys, type RepositorySpec } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

const logger = createLogger('orchestrator');

/** Logs a key dropped from a stored layer, so the operator sees which stored configs still carry one. */
export const droppedKeyWarning =
  (log: Pick<Logger, 'warn'>) =>
  (issue: ConfigIssue): void =>
    log.warn({ source: issue.source, key: issue.path }, `config: ${issue.message}`);

/** The one log line for a request layer's inapplicable Codex keys (as Codex warns once per file). */
export const ignoredKeysInfo =
  (log: Pick<Logger, 'info'>) =>
  (source: string, ignored: string[]): void =>
    log.info({ source, ignored_keys: ignored }, `config: ${ignored.length} Codex key(s) do not apply here and are ignored`);

/**
 * An environment's stored layer: its TOML, with the rules of its Codex rules file (if any) after its own
 * `[[rules]]` (the two forms are synonyms; all of them apply, strictest wins).
 */
export function environmentLayer(env: { id: string; config: string; rules?: string }): ConfigLayer {
  const source = `environment ${env.id}`;
  if (env.rules === undefined) return { layer: 'environment', source, text: env.config };
  const value = parseTomlText(env.config, source);
  const own = Array.isArray(value['rules']) ? (value['rules'] as unknown[]) : [];
  return { layer: 'environment', source, value: { ...value, rules: [...own, ...parseRulesFile(env.rules, `${source} rules`).rules] } };
}

/** One layer from an API body: TOML text or a JSON object of the same keys. */
export function apiLayer(layer: 'thread' | 'turn', config: unknown): ConfigLayer {
  return typeof config === 'string'
    ? { layer, source: `${layer}.config`, text: config }
    : { layer, source: `${layer}.config`, value: config ?? {} };
}

/** Requirements that list what is allowed: combined, they intersect. */
const ALLOWED = [
  'allowed_sandbox_modes',
  'allowed_approval_policies',
  'allowed_approvals_reviewers',
  'allowed_models',
  'allowed_network_modes',
  'allowed_ports',
  'allowed_repository_hosts',
] as const;
/** Ceilings of patterns or prefixes: the workspace's entries count only inside the cluster's. */
const WITHIN = {
  allowed_domains: domainWithinAny,
  allowed_writable_root_prefixes: pathWithinAny,
} as const;

/**
 * Both sets of requirements apply: allowed lists intersect, the workspace's pattern and prefix ceilings
 * are kept only where the cluster's contain them, `allow_tenant_allow_rules` is false when either says
 * so, and both managed guardian policies are added (the cluster's first).
 */
export function combineRequirements(cluster: Requirements, workspace: Requirements): Requirements {
  const out: Requirements = { ...cluster };
  const o = out as Record<string, unknown>;
  for (const k of ALLOWED) {
    const a = cluster[k] as unknown[] | undefined;
    const b = workspace[k] as unknown[] | undefined;
    if (b) o[k] = a ? b.filter((v) => a.includes(v)) : b;
  }
  for (const [k, within] of Object.entries(WITHIN) as [keyof typeof WITHIN, (v: string, c: readonly string[]) => boolean][]) {
    const a = cluster[k];
    const b = workspace[k];
    if (b) o[k] = a ? b.filter((v) => within(v, a)) : b;
  }
  if (cluster.allow_tenant_allow_rules === false || workspace.allow_tenant_allow_rules === false)
    out.allow_tenant_allow_rules = false;
  // Queue caps only lower: the smaller of the two applies.
  for (const k of ['max_queued_turns_per_thread', 'max_queued_turns_per_workspace', 'workspace_retention_ms'] as const) {
    const lowest = Math.min(cluster[k] ?? Infinity, workspace[k] ?? Infinity);
    if (Number.isFinite(lowest)) out[k] = lowest;
  }
  // Restrictions add up: both sets of denied domains and managed prefix rules apply.
  const denied = [...(cluster.denied_domains ?? []), ...(workspace.denied_domains ?? [])];
  if (denied.length > 0) out.denied_domains = [...new Set(denied)];
  const prefixRules = [...(cluster.rules?.prefix_rules ?? []), ...(workspace.rules?.prefix_rules ?? [])];
  if (prefixRules.length > 0) out.rules = { prefix_rules: prefixRules };
  const policies = [cluster.guardian_policy_config, workspace.guardian_policy_config].filter(
    (p): p is string => p !== undefined && p.trim() !== '',
  );
  if (policies.length > 0) out.guardian_policy_config = policies.join('\n\n');
  else delete out.guardian_policy_config;
  return out;
}

/** Refuses workspace requirements that leave nothing allowed, or reach past, the cluster's own. */
export function checkRequirementsFit(cluster: Requirements, workspace: Requirements): void {
  const combined = combineRequirements(cluster, workspace);
  const issues: ConfigIssue[] = ALLOWED.filter((k) => (combined[k] as unknown[] | undefined)?.length === 0).map(
    (k) => ({
      source: 'requirements',
      path: k,
      message: `allows nothing the cluster's requirements allow (${JSON.stringify(cluster[k])})`,
    }),
  );
  for (const [k, within] of Object.entries(WITHIN) as [keyof typeof WITHIN, (v: string, c: readonly string[]) => boolean][]) {
    const ceiling = cluster[k];
    const beyond = ceiling ? (workspace[k] ?? []).filter((v) => !within(v, ceiling)) : [];
    if (beyond.length > 0) {
      issues.push({
        source: 'requirements',
        path: k,
        message: `${JSON.stringify(beyond)} reach past the cluster's requirement ${k} = ${JSON.stringify(ceiling)}`,
      });
    }
  }
  if (cluster.allow_tenant_allow_rules === false && workspace.allow_tenant_allow_rules === true) {
    issues.push({
      source: 'requirements',
      path: 'allow_tenant_allow_rules',
      message: "cannot be true: the cluster's requirements set allow_tenant_allow_rules = false",
    });
  }
  if (issues.length > 0) throw new ConfigError(issues, 'config_not_allowed');
}

export async function workspaceRequirements(redis: Redis, workspaceId: string): Promise<Requirements> {
  const raw = await redis.get(keys.requirements(workspaceId));
  return raw ? readRequirements({ source: 'requirements', value: JSON.parse(raw) }) : {};
}

/**
 * The effective config of a request whose own layer is the last of `layers`; the ones before it
 * (the environment, and for a turn the thread) were stored when they were accepted.
 */
export async function effectiveConfig(
  redis: Redis,
  file: ClusterFile,
  workspaceId: string,
  layers: ConfigLayer[],
  onDroppedKey: (issue: ConfigIssue) => void = droppedKeyWarning(logger),
  onIgnoredKeys?: (source: string, keys: string[]) => void,
): Promise<EffectiveConfig> {
  const requirements = combineRequirements(
    file.requirements ?? {},
    await workspaceRequirements(redis, workspaceId),
  );
  const marked = layers.map((l, i) => (i < layers.length - 1 ? { ...l, stored: true } : l));
  const request = layers.at(-1)?.source;
  return resolveConfig([clusterLayer({ file }), ...marked], requirements, {
    onDroppedKey,
    // Only the request's own layer is reported: the stored ones were reported when they were accepted.
    ...(onIgnoredKeys ? { onIgnoredKeys: (source: string, ignored: string[]) => source === request && onIgnoredKeys(source, ignored) } : {}),
  });
}

/** The queue caps that apply to a workspace: the operator's, lowered by either requirements. */
export async function queueCaps(
  ctx: { redis: Redis; clusterFile: ClusterFile; settings: { maxQueuedTurnsPerThread: number; maxQueuedTurnsPerWorkspace: number } },
  workspaceId: string,
): Promise<{ max_queued_turns_per_thread: number; max_queued_turns_per_workspace: number }> {
  const req = combineRequirements(ctx.clusterFile.requirements ?? {}, await workspaceRequirements(ctx.redis, workspaceId));
  return {
    max_queued_turns_per_thread: Math.min(ctx.settings.maxQueuedTurnsPerThread, req.max_queued_turns_per_thread ?? Infinity),
    max_queued_turns_per_workspace: Math.min(
      ctx.settings.maxQueuedTurnsPerWorkspace,
      req.max_queued_turns_per_workspace ?? Infinity,
    ),
  };
}

/** The host (or host:port, lowercase) a repository URL names, as the worker's checkout policy reads it. */
function repositoryHostOf(url: string): { host: string; hostname: string; defaultPort: string } | undefined {
  try {
    const u = new URL(url);
    return { host: u.host.toLowerCase(), hostname: u.hostname.toLowerCase(), defaultPort: u.protocol === 'https:' ? '443' : '80' };
  } catch {
    return undefined;
  }
}

/**
 * Refuses (400 naming `repository.url`) a repository whose host is outside the workspace's
 * `allowed_repository_hosts` requirement (either requirements' list; combined, they intersect). The
 * operator's own [sandbox_worker] repository_hosts is the outer ceiling, checked by the worker at
 * checkout (the worker's file holds it; the orchestrator's may not), so the hosts that work are both.
 */
export async function checkRepositoryAllowed(
  ctx: { redis: Redis; clusterFile: ClusterFile },
  workspaceId: string,
  repository: RepositorySpec,
): Promise<void> {
  const req = combineRequirements(ctx.clusterFile.requirements ?? {}, await workspaceRequirements(ctx.redis, workspaceId));
  const h = repositoryHostOf(repository.url);
  if (!h) throw new PaddockError('invalid_repository', 'repository.url is not a URL', { status: 400, field: 'repository.url' });
  // host:443 on https (host:80 on http) is the same host as the bare name, as in the worker's check.
  const bare = h.host === h.hostname;
  const matches = (list: readonly string[]) =>
    list.some((e) => {
      const entry = e.toLowerCase();
      return entry === h.host || (bare && entry === `${h.hostname}:${h.defaultPort}`);
    });
  const allowed = req.allowed_repository_hosts;
  if (allowed && !matches(allowed)) {
    throw new PaddockError(
      'repository_not_allowed',
      `repository.url: ${h.host} is not within requirement allowed_repository_hosts = ${JSON.stringify(allowed)}`,
      { status: 400, field: 'repository.url' },
    );
  }
}

/** The idle retention of this workspace's stopped workspaces when a requirement lowers the cluster's; else undefined. */
export async function workspaceRetentionMs(
  ctx: { redis: Redis; clusterFile: ClusterFile; settings: { workspaceRetentionMs: number } },
  workspaceId: string,
): Promise<number | undefined> {
  const req = combineRequirements(ctx.clusterFile.requirements ?? {}, await workspaceRequirements(ctx.redis, workspaceId));
  const lowered = req.workspace_retention_ms;
  return lowered !== undefined && lowered < ctx.settings.workspaceRetentionMs ? lowered : undefined;
}
