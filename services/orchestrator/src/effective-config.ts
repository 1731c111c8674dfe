// Config resolution for threads and turns: the cluster file's agent keys, the environment's TOML,
// the thread's and the turn's config, constrained by the cluster's and the workspace's managed
// requirements. A refusal is the shared ConfigError: 400 naming the key and the constraint.
import {
  type ClusterFile,
  clusterLayer,
  ConfigError,
  type ConfigLayer,
  type EffectiveConfig,
  readRequirements,
  type Requirements,
  resolveConfig,
} from '@paddock/shared';
import { keys } from '@paddock/shared/turns/keys.ts';
import type { Redis } from 'ioredis';

/** One layer from an API body: TOML text or a JSON object of the same keys. */
export function apiLayer(layer: 'thread' | 'turn', config: unknown): ConfigLayer {
  return typeof config === 'string'
    ? { layer, source: `${layer}.config`, text: config }
    : { layer, source: `${layer}.config`, value: config ?? {} };
}

const ALLOWED = [
  'allowed_sandbox_modes',
  'allowed_approval_policies',
  'allowed_approvals_reviewers',
] as const;

/** Both sets of requirements apply: allowed lists intersect; the workspace's guardian policy wins. */
export function combineRequirements(cluster: Requirements, workspace: Requirements): Requirements {
  const out: Requirements = { ...cluster };
  for (const k of ALLOWED) {
    const a = cluster[k] as string[] | undefined;
    const b = workspace[k] as string[] | undefined;
    if (b) (out as Record<string, unknown>)[k] = a ? b.filter((v) => a.includes(v)) : b;
  }
  if (workspace.guardian_policy_config !== undefined)
    out.guardian_policy_config = workspace.guardian_policy_config;
  return out;
}

/** Refuses workspace requirements that leave nothing allowed under the cluster's own. */
export function checkRequirementsFit(cluster: Requirements, workspace: Requirements): void {
  const combined = combineRequirements(cluster, workspace);
  const issues = ALLOWED.filter((k) => (combined[k] as string[] | undefined)?.length === 0).map((k) => ({
    source: 'requirements',
    path: k,
    message: `allows nothing the cluster's requirements allow (${JSON.stringify(cluster[k])})`,
  }));
  if (issues.length > 0) throw new ConfigError(issues, 'config_not_allowed');
}

export async function workspaceRequirements(redis: Redis, workspaceId: string): Promise<Requirements> {
  const raw = await redis.get(keys.requirements(workspaceId));
  return raw ? readRequirements({ source: 'requirements', value: JSON.parse(raw) }) : {};
}

export async function effectiveConfig(
  redis: Redis,
  file: ClusterFile,
  workspaceId: string,
  layers: ConfigLayer[],
): Promise<EffectiveConfig> {
  const requirements = combineRequirements(
    file.requirements ?? {},
    await workspaceRequirements(redis, workspaceId),
  );
  return resolveConfig(
    [clusterLayer({ file }), ...layers],
    requirements,
  );
}
