// Reads Codex's own files as Codex means them, before schema validation: the selected [profiles.<name>]
// applied, not-applicable Codex keys taken out (and reported), legacy values mapped as Codex maps them,
// relative writable roots resolved against the workspace, requirements' [experimental_network] mapped.
import { posix } from 'node:path';
import type { TSchema } from 'typebox';
import { CODEX_CONFIG_KEYS, CODEX_REQUIREMENTS_KEYS, refusedCodexKeys, withoutInapplicableKeys } from './codex-keys.ts';
import type { ConfigIssue } from './validate.ts';

/** Where the workspace is inside every sandbox: relative writable roots resolve against it. */
export const SANDBOX_WORKSPACE_DIR = '/workspace';

export type CodexRead = { value: Record<string, unknown>; ignored: string[]; issues: ConfigIssue[] };

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Node = { properties?: Record<string, Node>; patternProperties?: Record<string, Node>; anyOf?: Node[] };

/** Whether Paddock's schema has a key at `path` (map keys match their pattern). */
export function schemaKnows(schema: TSchema, path: readonly string[]): boolean {
  let node: Node | undefined = schema as Node;
  for (const s of path) {
    if (!node) return false;
    const next: Node | undefined =
      node.properties?.[s] ??
      (node.patternProperties ? Object.values(node.patternProperties)[0] : undefined) ??
      node.anyOf?.map((n) => n.properties?.[s]).find((n) => n !== undefined);
    if (!next) return false;
    node = next;
  }
  return true;
}

/** Codex's `approval_policy` values -> Paddock's (legacy on-failure is on-request, as 0.169.0 renders it). */
function approvalPolicy(value: unknown, path: string, source: string, issues: ConfigIssue[]): unknown {
  if (value === 'on-failure') return 'on-request';
  if (isTable(value) && isTable(value['granular'])) {
    // Codex: a `false` category is rejected automatically instead of being asked about. Paddock's
    // reviewer sees sandbox escalations and rule prompts: both true is on-request, both false is never.
    const g = value['granular'];
    const sandbox = g['sandbox_approval'] !== false;
    const rules = g['rules'] !== false;
    if (sandbox && rules) return 'on-request';
    if (!sandbox && !rules) return 'never';
    issues.push({
      source,
      path: `${path}.granular`,
      message: 'sandbox_approval and rules must be both true (on-request) or both false (never) here: Paddock cannot ask about one and reject the other yet',
    });
    return value;
  }
  return value;
}

const reviewer = (value: unknown) => (value === 'guardian_subagent' ? 'auto_review' : value);

/** Applies `profile`: the named [profiles.<name>] is read over the layer, as Codex does. */
function applyProfile(raw: Record<string, unknown>, source: string, issues: ConfigIssue[]): Record<string, unknown> {
  const { profile, profiles, ...rest } = raw;
  if (profile === undefined) return rest;
  const table = isTable(profiles) ? profiles : {};
  const chosen = typeof profile === 'string' ? table[profile] : undefined;
  if (!isTable(chosen)) {
    issues.push({
      source,
      path: 'profile',
      message: `names no [profiles.${String(profile)}] (known: ${Object.keys(table).join(', ') || 'none'})`,
    });
    return rest;
  }
  const merged: Record<string, unknown> = { ...rest };
  for (const [k, v] of Object.entries(chosen)) {
    merged[k] = isTable(v) && isTable(merged[k]) ? { ...(merged[k] as Record<string, unknown>), ...v } : v;
  }
  return merged;
}

/** One agent layer (config.toml) as Codex means it; `schema` is the layer's Paddock schema. */
export function codexConfigLayer(raw: Record<string, unknown>, source: string, schema: TSchema): CodexRead {
  const issues: ConfigIssue[] = [];
  const profiled = applyProfile(raw, source, issues);
  for (const r of refusedCodexKeys(CODEX_CONFIG_KEYS, profiled)) issues.push({ source, ...r });
  const { value, ignored } = withoutInapplicableKeys(CODEX_CONFIG_KEYS, profiled, (p) => schemaKnows(schema, p));
  if ('approval_policy' in value) value['approval_policy'] = approvalPolicy(value['approval_policy'], 'approval_policy', source, issues);
  if ('approvals_reviewer' in value) value['approvals_reviewer'] = reviewer(value['approvals_reviewer']);
  const sww = value['sandbox_workspace_write'];
  if (isTable(sww) && Array.isArray(sww['writable_roots'])) {
    sww['writable_roots'] = sww['writable_roots'].map((r) =>
      typeof r === 'string' && r !== '' && !r.startsWith('/') ? posix.resolve(SANDBOX_WORKSPACE_DIR, r) : r,
    );
  }
  if (isTable(value['requirements'])) {
    const req = codexRequirements(value['requirements'], source);
    value['requirements'] = req.value;
    ignored.push(...req.ignored.map((k) => `requirements.${k}`));
    issues.push(...req.issues);
  }
  return { value, ignored, issues };
}

/** requirements.toml as Codex means it, in Paddock's requirement keys. */
export function codexRequirements(raw: Record<string, unknown>, source: string): CodexRead {
  const issues: ConfigIssue[] = [];
  const known = new Set(['allowed_sandbox_modes', 'allowed_approval_policies', 'allowed_approvals_reviewers', 'guardian_policy_config', 'rules']);
  const { value, ignored } = withoutInapplicableKeys(CODEX_REQUIREMENTS_KEYS, raw, (p) =>
    p.length === 1 ? !(p[0]! in CODEX_REQUIREMENTS_KEYS) || known.has(p[0]!) : p[0] !== 'experimental_network',
  );
  const list = (k: string, map: (v: unknown) => unknown) => {
    const v = value[k];
    if (Array.isArray(v)) value[k] = [...new Set(v.map(map))];
  };
  list('allowed_approval_policies', (v) => (v === 'on-failure' ? 'on-request' : v));
  list('allowed_approvals_reviewers', reviewer);
  const modes = value['allowed_sandbox_modes'];
  if (Array.isArray(modes) && modes.includes('external-sandbox')) {
    value['allowed_sandbox_modes'] = modes.filter((m) => m !== 'external-sandbox');
    ignored.push('allowed_sandbox_modes[external-sandbox]');
  }
  const net = value['experimental_network'];
  delete value['experimental_network'];
  if (isTable(net)) {
    if (net['enabled'] === false && value['allowed_network_modes'] === undefined) value['allowed_network_modes'] = ['off'];
    const domains = isTable(net['domains']) ? net['domains'] : {};
    if (isTable(net['domains']) && (net['allowed_domains'] !== undefined || net['denied_domains'] !== undefined)) {
      issues.push({ source, path: 'experimental_network.domains', message: 'set either domains or the legacy allowed_domains/denied_domains, not both (as Codex)' });
    }
    const allow = [
      ...Object.entries(domains).filter(([, d]) => d === 'allow').map(([name]) => name),
      ...(Array.isArray(net['allowed_domains']) ? (net['allowed_domains'] as string[]) : []),
    ];
    const deny = [
      ...Object.entries(domains).filter(([, d]) => d === 'deny').map(([name]) => name),
      ...(Array.isArray(net['denied_domains']) ? (net['denied_domains'] as string[]) : []),
    ];
    for (const [name, d] of Object.entries(domains)) {
      if (d !== 'allow' && d !== 'deny') {
        issues.push({ source, path: `experimental_network.domains.${name}`, message: 'must be "allow" or "deny"' });
      }
    }
    if (allow.length > 0 && value['allowed_domains'] === undefined) value['allowed_domains'] = allow;
    if (deny.length > 0) value['denied_domains'] = [...new Set([...((value['denied_domains'] as string[] | undefined) ?? []), ...deny])];
  }
  return { value, ignored, issues };
}
