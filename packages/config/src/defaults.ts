// Defaults, once: a cluster-file section with the schema's `default`s applied, nested objects too. The
// settings modules read the result and only rename and reshape; no number is written twice. A key the
// caller does not list as `unset` but the schema gives no default is a programming error, thrown here.
import type { Static, TObject, TSchema } from 'typebox';

type Node = { type?: unknown; properties?: Record<string, Node>; default?: unknown };

/** Every key present, recursively (arrays and records are values, kept whole). */
type Filled<T> = T extends readonly unknown[]
  ? T
  : T extends Record<string, unknown>
    ? { [K in keyof T]-?: Filled<Exclude<T[K], undefined>> }
    : T;
/** `T` with every key filled but the `Unset` ones, which keep their optional type. */
export type WithDefaults<T, Unset extends keyof T = never> = Omit<Filled<T>, Unset> & Pick<T, Unset>;

const isObjectSchema = (node: Node) => node.type === 'object' && node.properties !== undefined;

function fill(schema: Node, value: Record<string, unknown>, path: string, unset: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const keyPath = path ? `${path}.${key}` : key;
    const current = out[key];
    if (current === undefined && 'default' in child) out[key] = structuredClone(child.default);
    else if (isObjectSchema(child) && (current === undefined || (typeof current === 'object' && current !== null))) {
      out[key] = fill(child, (current ?? {}) as Record<string, unknown>, keyPath, unset);
    } else if (current === undefined && !unset.has(keyPath)) {
      throw new Error(`config schema: ${keyPath} has no default and is not listed as unset`);
    }
  }
  return out;
}

/**
 * `value` (a section as read from the cluster file, or undefined) with every default of `schema`.
 * `unset` names the top-level keys that have no default (their absence means something).
 */
export function withDefaults<S extends TObject>(schema: S, value: Static<S> | undefined): WithDefaults<Static<S>>;
export function withDefaults<S extends TObject, const U extends keyof Static<S> & string>(
  schema: S,
  value: Static<S> | undefined,
  unset: readonly U[],
): WithDefaults<Static<S>, U>;
export function withDefaults(schema: TObject, value: unknown, unset: readonly string[] = []): unknown {
  return fill(schema as TSchema as Node, (value ?? {}) as Record<string, unknown>, '', new Set(unset));
}

/** The schema's default of one top-level key (for values that are not a section's, like a listener port). */
export function defaultOf<S extends TObject, K extends keyof Static<S> & string>(schema: S, key: K): Exclude<Static<S>[K], undefined> {
  const node = (schema as TSchema as Node).properties?.[key];
  if (!node || !('default' in node)) throw new Error(`config schema: ${key} has no default`);
  return structuredClone(node.default) as Exclude<Static<S>[K], undefined>;
}
