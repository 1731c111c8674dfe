// Layered configuration: defaults < cluster file < environment < thread < turn, each layer a
// TOML text or an object; a tenant layer sets only the keys it owns (owners.ts), and the tenant's
// requirements then constrain the result (ceilings.ts for the list ceilings).
import { readFileSync } from 'node:fs';
import type { TSchema } from 'typebox';
import { parse as parseToml, TomlError } from 'smol-toml';
import { PaddockError } from '@paddock/platform';
import { domainWithinAny, pathWithinAny } from './ceilings.ts';
import { notOwnedIssue, TENANT_LAYERS, type TenantLayer, unownedPaths, withoutPaths } from './owners.ts';
import {
  AgentConfig,
  APPROVAL_POLICIES,
  APPROVALS_REVIEWERS,
  ClusterFile,
  NETWORK_MODES,
  Requirements,
  SANDBOX_MODES,
  type ApprovalPolicy,
  type ApprovalsReviewer,
  type NetworkMode,
  type RuleDecision,
  type SandboxMode,
} from './schema.ts';
import { formatIssue, validate, withLine, type ConfigIssue } from './validate.ts';
import { codexConfigLayer, codexRequirements } from './codex-compat.ts';

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
/**
 * One layer: a TOML text (`text`) or an already-parsed object (`value`), and where it came from.
 * `stored`: accepted and stored before the current ownership rules (an environment's or a thread's own
 * config): a key its layer may not set is dropped with a warning instead of refusing the request.
 */
export type ConfigLayer = { layer: LayerName; source: string; text?: string; value?: unknown; stored?: boolean };

/** Where a rule came from: the command policy trusts the operator's rules more than a tenant's. */
export type RuleSource = 'cluster' | 'requirements' | TenantLayer;
export type EffectiveRule = { pattern: string[]; decision: RuleDecision; source: RuleSource; justification?: string };

export type EffectiveConfig = {
  model: string;
  /** A name in the worker's own cluster-file provider table; the table itself never travels with a turn. */
  model_provider: string;
  sandbox_mode: SandboxMode;
  approval_policy: ApprovalPolicy;
  approvals_reviewer: ApprovalsReviewer;
  /** The ceiling an escalation may reach: requirement allowed_sandbox_modes, every mode when unconstrained. */
  allowed_sandbox_modes: SandboxMode[];
  sandbox_workspace_write: { writable_roots: string[]; network_access: boolean };
  network: {
    mode: NetworkMode;
    allowed_domains: string[];
    denied_domains: string[];
    allowed_methods: string[] | null;
    allowed_ports: number[];
  };
  rules: EffectiveRule[];
  /** The policy replacing the guardian's default: only the cluster file's [auto_review].policy; undefined: the default. */
  guardian_policy: string | undefined;
  guardian_policy_source: 'cluster' | 'default';
  /** The workspace's managed guardian_policy_config: added to the policy, never replacing it. */
  guardian_managed_policy: string | undefined;
  /** The tenant layers' [auto_review].policy texts, lowest layer first: guidance, never the policy. */
  guardian_tenant_guidance: string[];
};

export type ResolveOptions = {
  /** Told of each key dropped from a `stored` layer that the layer may no longer set. */
  onDroppedKey?: (issue: ConfigIssue) => void;
  /** Told, once per layer, of the Codex keys that do not apply here and were taken out (`ignored_keys`). */
  onIgnoredKeys?: (source: string, keys: string[]) => void;
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

export type ModelProviders = NonNullable<AgentConfig['model_providers']>;

/** The cluster's model providers: the built-in ones and the cluster file's (which win by name). */
export function clusterModelProviders(file: { model_providers?: ModelProviders | undefined }): ModelProviders {
  return { ...DEFAULT_AGENT_CONFIG.model_providers, ...file.model_providers };
}

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

/** How a layer's Codex keys are read before validation (codex-compat.ts). */
type CodexReader = (raw: Record<string, unknown>, source: string) => { value: Record<string, unknown>; ignored: string[]; issues: ConfigIssue[] };

/** Reads and validates one layer against `schema` (TOML text or object), Codex's keys read as Codex means them. */
export function readLayer<T>(
  layer: Omit<ConfigLayer, 'layer'>,
  schema: TSchema,
  codex?: CodexReader,
  onIgnoredKeys?: ResolveOptions['onIgnoredKeys'],
): T {
  let value =
    layer.value !== undefined ? layer.value : layer.text !== undefined ? parseTomlText(layer.text, layer.source) : {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError([{ source: layer.source, path: '', message: 'must be a table (an object)' }]);
  }
  if (codex) {
    const read = codex(value as Record<string, unknown>, layer.source);
    if (read.issues.length > 0) throw new ConfigError(read.issues.map((i) => withLine(i, layer.text)));
    if (read.ignored.length > 0) onIgnoredKeys?.(layer.source, read.ignored);
    value = read.value;
  }
  const issues = validate(schema, value, layer.source, layer.text);
  if (issues.length > 0) throw new ConfigError(issues);
  return value as T;
}

/**
 * Reads one agent layer. A tenant layer (`as` = environment, thread or turn) that sets a key only the
 * operator or the workspace's admins own is refused with `config_key_not_owned`, naming key and owner;
 * a `stored` one has those keys dropped (told to `onDroppedKey`) so what was accepted before still runs.
 */
export function readAgentLayer(
  layer: Omit<ConfigLayer, 'layer'>,
  as: LayerName = 'cluster',
  options: ResolveOptions = {},
): AgentConfig {
  let raw = layer.text !== undefined ? parseTomlText(layer.text, layer.source) : (layer.value ?? {});
  // Codex's keys first (profile applied, inapplicable keys out), so the owner check sees what applies.
  if (isTable(raw)) {
    const read = codexConfigLayer(raw, layer.source, AgentConfig);
    if (read.issues.length > 0) throw new ConfigError(read.issues.map((i) => withLine(i, layer.text)));
    if (read.ignored.length > 0) options.onIgnoredKeys?.(layer.source, read.ignored);
    raw = read.value;
  }
  if (isTable(raw) && (TENANT_LAYERS as readonly string[]).includes(as)) {
    const paths = unownedPaths(AgentConfig, raw);
    if (paths.length > 0 && !layer.stored) {
      throw new ConfigError(
        paths.map((p) => notOwnedIssue(AgentConfig, p, layer.source)),
        'config_key_not_owned',
      );
    }
    for (const p of paths) {
      const issue = notOwnedIssue(AgentConfig, p, layer.source);
      options.onDroppedKey?.({ ...issue, message: `ignored in this stored ${as} layer: ${issue.message}` });
    }
    if (paths.length > 0) raw = withoutPaths(raw, paths);
  }
  return readLayer({ source: layer.source, value: raw, ...(layer.text !== undefined ? { text: layer.text } : {}) }, AgentConfig);
}
export const readRequirements = (
  layer: Omit<ConfigLayer, 'layer'>,
  onIgnoredKeys?: ResolveOptions['onIgnoredKeys'],
): Requirements => readLayer(layer, Requirements, codexRequirements, onIgnoredKeys);

export function readClusterFile(path: string): ClusterFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ source: path, path: '', message: `cannot read: ${(err as Error).message}` }]);
  }
  return readLayer({ source: path, text }, ClusterFile, (v, source) => codexConfigLayer(v, source, ClusterFile), (source, ignored) =>
    // One line per file, as Codex warns once: "Codex is ignoring N unrecognized configuration settings".
    process.stderr.write(`${JSON.stringify({ level: 'info', source, ignored_keys: ignored, msg: `config: ${ignored.length} Codex key(s) do not apply here and are ignored` })}\n`),
  );
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

/** The layer that last set `path` (dotted), or undefined when only the defaults did. */
function originOf(layers: { layer: LayerName; value: AgentConfig }[], path: string): LayerName | undefined {
  let found: LayerName | undefined;
  for (const { layer, value } of layers) {
    let node: unknown = value;
    for (const s of path.split('.')) node = isTable(node) ? node[s] : undefined;
    if (node !== undefined) found = layer;
  }
  return found;
}

const isBlank = (text: string | undefined) => text === undefined || text.trim() === '';
const ruleSource = (layer: LayerName): RuleSource => (layer === 'defaults' ? 'cluster' : layer);
const isTenantLayer = (layer: LayerName): layer is TenantLayer => (TENANT_LAYERS as readonly string[]).includes(layer);

/** A blank [auto_review].policy is no policy (as Codex drops blank ones). */
function withoutBlankPolicy(value: AgentConfig): AgentConfig {
  if (value.auto_review?.policy === undefined || !isBlank(value.auto_review.policy)) return value;
  const { policy: _blank, ...rest } = value.auto_review;
  return { ...value, auto_review: rest };
}

/** Most alternatives one requirements rule may expand to (each `any_of` multiplies them). */
const MAX_RULE_EXPANSION = 256;

/** Requirements' `[rules] prefix_rules` as plain prefix rules: each `any_of` expanded into its words. */
export function requirementRules(requirements: Requirements): EffectiveRule[] {
  const out: EffectiveRule[] = [];
  (requirements.rules?.prefix_rules ?? []).forEach((rule, i) => {
    let patterns: string[][] = [[]];
    for (const token of rule.pattern) {
      const words = 'token' in token ? [token.token] : token.any_of;
      patterns = patterns.flatMap((p) => words.map((w) => [...p, w]));
      if (patterns.length > MAX_RULE_EXPANSION) {
        throw new ConfigError([
          { source: 'requirements', path: `rules.prefix_rules[${i}].pattern`, message: `expands to more than ${MAX_RULE_EXPANSION} prefixes` },
        ]);
      }
    }
    for (const pattern of patterns) {
      out.push({ pattern, decision: rule.decision, source: 'requirements', ...(rule.justification ? { justification: rule.justification } : {}) });
    }
  });
  return out;
}

/**
 * Merges the layers over the built-in defaults and checks the result against the tenant's requirements.
 * A value a layer set outside the requirements is refused (never silently changed); a built-in default
 * outside them gives way to the first allowed value, since nobody chose it. Model providers come from
 * the cluster layer only; a tenant layer picks one by name.
 */
export function resolveConfig(
  layers: ConfigLayer[],
  requirements: Requirements = {},
  options: ResolveOptions = {},
): EffectiveConfig {
  const parsed = layers.map((l) => ({
    layer: l.layer,
    source: l.source,
    value: withoutBlankPolicy(readAgentLayer(l, l.layer, options)),
  }));
  const operatorTable: ModelProviders = {};
  for (const p of parsed) if (!isTenantLayer(p.layer)) Object.assign(operatorTable, p.value.model_providers);
  const providers = clusterModelProviders({ model_providers: operatorTable });
  // A stored layer that had named a provider it defined itself (now dropped) falls back to the layers below.
  for (const p of parsed) {
    const name = p.value.model_provider;
    const stored = layers.find((l) => l.layer === p.layer)?.stored;
    if (stored && name !== undefined && !Object.hasOwn(providers, name)) {
      options.onDroppedKey?.({
        source: p.source,
        path: 'model_provider',
        message: `ignored in this stored ${p.layer} layer: "${name}" is not one of the cluster's model providers`,
      });
      const { model_provider: _gone, ...rest } = p.value;
      p.value = rest;
    }
  }
  let merged: Record<string, unknown> = structuredClone(DEFAULT_AGENT_CONFIG);
  for (const { value } of parsed) merged = merge(merged, value as Record<string, unknown>);
  const from = (path: string) => originOf(parsed, path);
  const sources = new Map(parsed.map((p) => [p.layer, p.source]));
  const sourceOf = (layer: LayerName) => sources.get(layer) ?? layer;

  const issues: ConfigIssue[] = [];
  const outside = (path: string, layer: LayerName, value: unknown, requirement: keyof Requirements, what = 'allowed by') =>
    issues.push({
      source: sourceOf(layer),
      path,
      message: `${JSON.stringify(value)} (set by the ${layer} layer) is not ${what} requirement ${requirement} = ${JSON.stringify(requirements[requirement])}`,
    });
  const setAt = (path: string, value: unknown) => {
    const segments = path.split('.');
    let node = merged;
    for (const s of segments.slice(0, -1)) node = node[s] as Record<string, unknown>;
    node[segments.at(-1)!] = value;
  };
  const getAt = (path: string): unknown => {
    let node: unknown = merged;
    for (const s of path.split('.')) node = isTable(node) ? node[s] : undefined;
    return node;
  };
  /** One value within an allowed list; an unchosen default yields to the first allowed value. */
  const constrain = (path: string, allowedKey: keyof Requirements, all: readonly string[] | undefined) => {
    const allowed = requirements[allowedKey] as string[] | undefined;
    const value = getAt(path) as string;
    if (!allowed || allowed.includes(value)) return;
    const layer = from(path);
    if (layer === undefined) {
      setAt(path, (all ?? allowed).find((v) => allowed.includes(v)));
      return;
    }
    outside(path, layer, value, allowedKey);
  };
  constrain('sandbox_mode', 'allowed_sandbox_modes', SANDBOX_MODES);
  constrain('approval_policy', 'allowed_approval_policies', APPROVAL_POLICIES);
  constrain('approvals_reviewer', 'allowed_approvals_reviewers', APPROVALS_REVIEWERS);
  constrain('model', 'allowed_models', undefined);
  constrain('network.mode', 'allowed_network_modes', NETWORK_MODES);

  const networkModes = requirements.allowed_network_modes;
  const wantsNetwork = getAt('sandbox_workspace_write.network_access') === true;
  const accessLayer = from('sandbox_workspace_write.network_access');
  if (wantsNetwork && accessLayer && networkModes && !networkModes.some((m) => m !== 'off')) {
    outside('sandbox_workspace_write.network_access', accessLayer, true, 'allowed_network_modes', 'compatible with');
  }
  // Codex's network_access = true: commands get the network, here through the egress proxy (whose
  // private-address defences still apply). An explicit [network].mode, Paddock's own key, wins.
  if (wantsNetwork && from('network.mode') === undefined) {
    const mode = (['full', 'allowlist'] as const).find((m) => !networkModes || networkModes.includes(m));
    if (mode) setAt('network.mode', mode);
  }

  const domainCeiling = requirements.allowed_domains;
  if (domainCeiling) {
    const domainsLayer = from('network.allowed_domains');
    const domains = (getAt('network.allowed_domains') as string[] | undefined) ?? [];
    const beyond = domains.filter((d) => !domainWithinAny(d, domainCeiling));
    if (domainsLayer && beyond.length > 0) outside('network.allowed_domains', domainsLayer, beyond, 'allowed_domains', 'inside');
    const modeLayer = from('network.mode');
    if (getAt('network.mode') === 'full') {
      if (modeLayer) outside('network.mode', modeLayer, 'full', 'allowed_domains', 'inside');
      else setAt('network.mode', 'allowlist');
    }
  }

  const portCeiling = requirements.allowed_ports;
  if (portCeiling) {
    const ports = (getAt('network.allowed_ports') as number[] | undefined) ?? [];
    const portsLayer = from('network.allowed_ports');
    const beyond = ports.filter((p) => !portCeiling.includes(p));
    if (portsLayer && beyond.length > 0) outside('network.allowed_ports', portsLayer, beyond, 'allowed_ports', 'inside');
    if (!portsLayer) {
      const kept = ports.filter((p) => portCeiling.includes(p));
      setAt('network.allowed_ports', kept.length > 0 ? kept : [...portCeiling]);
    }
  }

  const rootPrefixes = requirements.allowed_writable_root_prefixes;
  if (rootPrefixes) {
    const roots = (getAt('sandbox_workspace_write.writable_roots') as string[] | undefined) ?? [];
    const rootsLayer = from('sandbox_workspace_write.writable_roots');
    const beyond = roots.filter((r) => !pathWithinAny(r, rootPrefixes));
    if (rootsLayer && beyond.length > 0) {
      outside('sandbox_workspace_write.writable_roots', rootsLayer, beyond, 'allowed_writable_root_prefixes', 'inside');
    }
  }

  const rules: EffectiveRule[] = [
    ...requirementRules(requirements),
    ...parsed.flatMap(({ layer, value }) =>
      (value.rules ?? []).map((r) => ({
        pattern: [...r.pattern],
        decision: r.decision,
        source: ruleSource(layer),
        ...(r.justification ? { justification: r.justification } : {}),
      })),
    ),
  ];
  if (requirements.allow_tenant_allow_rules === false) {
    for (const { layer, value } of parsed) {
      if (!isTenantLayer(layer)) continue;
      (value.rules ?? []).forEach((r, i) => {
        if (r.decision !== 'allow') return;
        issues.push({
          source: sourceOf(layer),
          path: `rules[${i}].decision`,
          message: `"allow" (set by the ${layer} layer) is not allowed by requirement allow_tenant_allow_rules = false`,
        });
      });
    }
  }

  const provider = merged['model_provider'] as string;
  if (!Object.hasOwn(providers, provider)) {
    const layer = from('model_provider');
    issues.push({
      source: layer ? sourceOf(layer) : 'config',
      path: 'model_provider',
      message: `"${provider}" is not one of the cluster's model providers (known: ${Object.keys(providers).join(', ')}); [model_providers] is set in the cluster file only`,
    });
  }
  if (issues.length > 0) {
    const constraint = issues.some((i) => i.message.includes('requirement'));
    throw new ConfigError(issues, constraint ? 'config_not_allowed' : 'config_invalid');
  }

  type Merged = {
    model: string;
    model_provider: string;
    sandbox_mode: SandboxMode;
    approval_policy: ApprovalPolicy;
    approvals_reviewer: ApprovalsReviewer;
    sandbox_workspace_write: EffectiveConfig['sandbox_workspace_write'];
    network: Partial<EffectiveConfig['network']> & { mode: NetworkMode };
  };
  const m = merged as unknown as Merged;
  const operatorPolicy = parsed.filter((p) => !isTenantLayer(p.layer)).findLast((p) => p.value.auto_review?.policy)
    ?.value.auto_review?.policy;
  const managed = requirements.guardian_policy_config;
  return {
    model: m.model,
    model_provider: m.model_provider,
    sandbox_mode: m.sandbox_mode,
    approval_policy: m.approval_policy,
    approvals_reviewer: m.approvals_reviewer,
    allowed_sandbox_modes: [...(requirements.allowed_sandbox_modes ?? SANDBOX_MODES)],
    sandbox_workspace_write: { ...m.sandbox_workspace_write },
    network: {
      mode: m.network.mode,
      allowed_domains: m.network.allowed_domains ?? [],
      denied_domains: [...new Set([...(m.network.denied_domains ?? []), ...(requirements.denied_domains ?? [])])],
      allowed_methods: m.network.allowed_methods ?? null,
      allowed_ports: m.network.allowed_ports ?? [],
    },
    rules,
    guardian_policy: operatorPolicy,
    guardian_policy_source: operatorPolicy !== undefined ? 'cluster' : 'default',
    guardian_managed_policy: isBlank(managed) ? undefined : managed,
    guardian_tenant_guidance: parsed.flatMap((p) =>
      isTenantLayer(p.layer) && p.value.auto_review?.policy ? [p.value.auto_review.policy] : [],
    ),
  };
}
