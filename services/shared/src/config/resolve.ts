// Layered configuration: defaults < cluster file < environment < thread < turn, each layer a
// TOML text or an object; the tenant's requirements then constrain the result.
import { readFileSync } from 'node:fs';
import type { TSchema } from 'typebox';
import { parse as parseToml, TomlError } from 'smol-toml';
import { PaddockError } from '../errors.ts';
import {
  AgentConfig,
  APPROVAL_POLICIES,
  APPROVALS_REVIEWERS,
  ClusterFile,
  Requirements,
  SANDBOX_MODES,
  type ApprovalPolicy,
  type ApprovalsReviewer,
  type NetworkMode,
  type RuleDecision,
  type SandboxMode,
} from './schema.ts';
import { formatIssue, validate, type ConfigIssue } from './validate.ts';

export class ConfigError extends PaddockError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], code = 'config_invalid') {
    super(code, issues.map(formatIssue).join('; '), {
      status: 400,
      field: issues[0]?.path,
      details: { issues },
    });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export type LayerName = 'defaults' | 'cluster' | 'environment' | 'thread' | 'turn';
/** One layer: a TOML text (`text`) or an already-parsed object (`value`), and where it came from. */
export type ConfigLayer = { layer: LayerName; source: string; text?: string; value?: unknown };

export type EffectiveConfig = {
  model: string;
  model_provider: string;
  model_providers: NonNullable<AgentConfig['model_providers']>;
  sandbox_mode: SandboxMode;
  approval_policy: ApprovalPolicy;
  approvals_reviewer: ApprovalsReviewer;
  sandbox_workspace_write: { writable_roots: string[]; network_access: boolean };
  network: {
    mode: NetworkMode;
    allowed_domains: string[];
    denied_domains: string[];
    allowed_methods: string[] | null;
    allowed_ports: number[];
  };
  rules: { pattern: string[]; decision: RuleDecision }[];
  /** The requirements' ceiling on sandbox modes (escalations included); absent in old turn records. */
  allowed_sandbox_modes?: SandboxMode[];
  /** The policy the guardian applies: managed > [auto_review].policy > the guardian's default (undefined). */
  guardian_policy: string | undefined;
  guardian_policy_source: 'requirements' | LayerName | 'default';
};

export const DEFAULT_AGENT_CONFIG = {
  model: 'gpt-5-codex',
  model_provider: 'openai',
  model_providers: {
    openai: {
      name: 'OpenAI',
      base_url: 'https://api.openai.com/v1',
      env_key: 'OPENAI_API_KEY',
      wire_api: 'responses',
    },
  },
  sandbox_mode: 'workspace-write',
  approval_policy: 'on-request',
  approvals_reviewer: 'user',
  sandbox_workspace_write: { writable_roots: [], network_access: false },
  network: { mode: 'off', allowed_domains: [], denied_domains: [], allowed_ports: [80, 443] },
  rules: [],
} satisfies AgentConfig;

/** Parses TOML text; a syntax error names the source, line and column. */
export function parseTomlText(text: string, source: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split('\n')[0] ?? 'syntax error';
      throw new ConfigError([
        { source, path: '', message: `TOML syntax error: ${first}`, line: err.line, column: err.column },
      ]);
    }
    throw err;
  }
}

/** Reads and validates one layer against `schema` (TOML text or object). */
export function readLayer<T>(layer: Omit<ConfigLayer, 'layer'>, schema: TSchema): T {
  const value = layer.text !== undefined ? parseTomlText(layer.text, layer.source) : (layer.value ?? {});
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError([{ source: layer.source, path: '', message: 'must be a table (an object)' }]);
  }
  const issues = validate(schema, value, layer.source, layer.text);
  if (issues.length > 0) throw new ConfigError(issues);
  return value as T;
}

export const readAgentLayer = (layer: Omit<ConfigLayer, 'layer'>): AgentConfig =>
  readLayer(layer, AgentConfig);
export const readRequirements = (layer: Omit<ConfigLayer, 'layer'>): Requirements =>
  readLayer(layer, Requirements);

export function readClusterFile(path: string): ClusterFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ source: path, path: '', message: `cannot read: ${(err as Error).message}` }]);
  }
  return readLayer({ source: path, text }, ClusterFile);
}

/** Keys whose lists add up across layers, so that a higher layer cannot drop a lower layer's restriction. */
const ACCUMULATING = new Set(['rules', 'network.denied_domains']);

function merge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
  prefix = '',
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const prev = out[key];
    if (ACCUMULATING.has(path) && Array.isArray(prev) && Array.isArray(value)) out[key] = [...prev, ...value];
    else if (isTable(prev) && isTable(value)) out[key] = merge(prev, value, path);
    else out[key] = value;
  }
  return out;
}
const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Which layer last set each key that requirements constrain (for error messages). */
function origins(layers: { layer: LayerName; value: AgentConfig }[]) {
  const found: Partial<
    Record<'sandbox_mode' | 'approval_policy' | 'approvals_reviewer' | 'auto_review.policy', LayerName>
  > = {};
  for (const { layer, value } of layers) {
    if (value.sandbox_mode !== undefined) found.sandbox_mode = layer;
    if (value.approval_policy !== undefined) found.approval_policy = layer;
    if (value.approvals_reviewer !== undefined) found.approvals_reviewer = layer;
    if (value.auto_review?.policy !== undefined) found['auto_review.policy'] = layer;
  }
  return found;
}

/**
 * Merges the layers over the built-in defaults and checks the result against the tenant's requirements.
 * A value a layer set outside the requirements is refused (never silently changed); a built-in default
 * outside them gives way to the first allowed value, since nobody chose it.
 */
export function resolveConfig(layers: ConfigLayer[], requirements: Requirements = {}): EffectiveConfig {
  const parsed = layers.map((l) => ({ layer: l.layer, source: l.source, value: readAgentLayer(l) }));
  let merged: Record<string, unknown> = structuredClone(DEFAULT_AGENT_CONFIG);
  for (const { value } of parsed) merged = merge(merged, value as Record<string, unknown>);
  const from = origins(parsed);
  const sources = new Map(parsed.map((p) => [p.layer, p.source]));

  const issues: ConfigIssue[] = [];
  const constrain = <K extends 'sandbox_mode' | 'approval_policy' | 'approvals_reviewer'>(
    key: K,
    allowedKey: 'allowed_sandbox_modes' | 'allowed_approval_policies' | 'allowed_approvals_reviewers',
    all: readonly string[],
  ) => {
    const allowed = requirements[allowedKey] as string[] | undefined;
    const value = merged[key] as string;
    if (!allowed || allowed.includes(value)) return;
    const layer = from[key];
    if (layer === undefined) {
      merged[key] = all.find((v) => allowed.includes(v)); // an unchosen default yields
      return;
    }
    issues.push({
      source: sources.get(layer) ?? layer,
      path: key,
      message: `"${value}" (set by the ${layer} layer) is not allowed by requirement ${allowedKey} = ${JSON.stringify(allowed)}`,
    });
  };
  constrain('sandbox_mode', 'allowed_sandbox_modes', SANDBOX_MODES);
  constrain('approval_policy', 'allowed_approval_policies', APPROVAL_POLICIES);
  constrain('approvals_reviewer', 'allowed_approvals_reviewers', APPROVALS_REVIEWERS);

  const providers = merged['model_providers'] as EffectiveConfig['model_providers'];
  if (!providers[merged['model_provider'] as string]) {
    issues.push({
      source: 'config',
      path: 'model_provider',
      message: `"${String(merged['model_provider'])}" is not defined in [model_providers] (known: ${Object.keys(providers).join(', ')})`,
    });
  }
  if (issues.length > 0) {
    const constraint = issues.some((i) => i.message.includes('requirement'));
    throw new ConfigError(issues, constraint ? 'config_not_allowed' : 'config_invalid');
  }

  type Merged = Omit<EffectiveConfig, 'network' | 'guardian_policy' | 'guardian_policy_source'> & {
    network: Partial<EffectiveConfig['network']> & { mode: NetworkMode };
    auto_review?: { policy?: string };
  };
  const m = merged as unknown as Merged;
  const policyLayer = from['auto_review.policy'];
  return {
    model: m.model,
    model_provider: m.model_provider,
    model_providers: providers,
    sandbox_mode: m.sandbox_mode,
    approval_policy: m.approval_policy,
    approvals_reviewer: m.approvals_reviewer,
    sandbox_workspace_write: { ...m.sandbox_workspace_write },
    network: {
      mode: m.network.mode,
      allowed_domains: m.network.allowed_domains ?? [],
      denied_domains: m.network.denied_domains ?? [],
      allowed_methods: m.network.allowed_methods ?? null,
      allowed_ports: m.network.allowed_ports ?? [],
    },
    rules: m.rules,
    allowed_sandbox_modes: requirements.allowed_sandbox_modes ?? [...SANDBOX_MODES],
    guardian_policy: requirements.guardian_policy_config ?? m.auto_review?.policy,
    guardian_policy_source:
      requirements.guardian_policy_config !== undefined ? 'requirements' : (policyLayer ?? 'default'),
  };
}
