// Who may set each config key: the schema carries an `x-owner` keyword per key (or per section), and
// this module reads it. A layer that sets a key its owner does not allow is refused (new input) or, for
// a layer stored before the key had an owner, has that key dropped with a warning (nothing is lost).
import type { TSchema } from 'typebox';
import type { ConfigIssue } from './validate.ts';

/** `operator`: the cluster file only. `admin`: workspace owners/admins (requirements). `member`: any layer. */
export type KeyOwner = 'operator' | 'admin' | 'member';
export const OWNER_KEYWORD = 'x-owner';

/** The layers of resolveConfig that tenants write (members, through the API). */
export const TENANT_LAYERS = ['environment', 'thread', 'turn'] as const;
export type TenantLayer = (typeof TENANT_LAYERS)[number];

export const OWNER_WORDING: Record<KeyOwner, string> = {
  operator: 'only the operator (cluster file) may set this key',
  admin: "only the workspace's owners and admins (requirements) or the cluster file's [requirements] may set this key",
  member: 'any layer may set this key: the cluster file, the environment, the thread and the turn',
};

/** Annotates a schema with its owner (returns the same schema, so it wraps in place). */
export function owned<T extends TSchema>(owner: KeyOwner, schema: T): T {
  (schema as Record<string, unknown>)[OWNER_KEYWORD] = owner;
  return schema;
}

type Node = { properties?: Record<string, Node>; [OWNER_KEYWORD]?: KeyOwner };

export const ownerOf = (schema: TSchema): KeyOwner | undefined => (schema as Node)[OWNER_KEYWORD];

/** Every key path of `schema` that carries an owner, with it, in schema order (nested keys inherit). */
export function keyOwners(schema: TSchema, prefix = '', inherited?: KeyOwner): { path: string; owner: KeyOwner }[] {
  const out: { path: string; owner: KeyOwner }[] = [];
  for (const [key, child] of Object.entries((schema as Node).properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const owner = child[OWNER_KEYWORD] ?? inherited;
    if (owner) out.push({ path, owner });
    out.push(...keyOwners(child as TSchema, path, owner));
  }
  return out;
}

/** The key paths of `value` that a tenant layer may not set: owner `operator` or `admin`, at any depth. */
export function unownedPaths(schema: TSchema, value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const props = (schema as Node).properties ?? {};
  const out: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const node = props[key];
    if (!node) continue; // unknown keys are the validator's to name
    const path = prefix ? `${prefix}.${key}` : key;
    const owner = node[OWNER_KEYWORD];
    if (owner === 'operator' || owner === 'admin') out.push(path);
    else out.push(...unownedPaths(node as TSchema, child, path));
  }
  return out;
}

export function notOwnedIssue(schema: TSchema, path: string, source: string): ConfigIssue {
  let node: Node | undefined = schema as Node;
  for (const s of path.split('.')) node = node?.properties?.[s];
  const owner = node?.[OWNER_KEYWORD] ?? 'operator';
  return { source, path, message: OWNER_WORDING[owner] };
}

/** `value` without the key paths given (a copy; the paths come from unownedPaths). */
export function withoutPaths(value: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const out = structuredClone(value);
  for (const path of paths) {
    const segments = path.split('.');
    let node: Record<string, unknown> | undefined = out;
    for (const s of segments.slice(0, -1)) node = node?.[s] as Record<string, unknown> | undefined;
    if (node) delete node[segments.at(-1)!];
  }
  return out;
}
