// A canonical hash of an action (argv, cwd, requested permissions): a user's override of a denial
// applies to this exact action only, whatever order its keys were written in.
import { createHash } from 'node:crypto';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

export function actionHash(action: { argv: readonly string[]; cwd: string; permissions?: unknown }): string {
  const body = JSON.stringify(
    canonical({ argv: action.argv, cwd: action.cwd, permissions: action.permissions ?? null }),
  );
  return createHash('sha256').update(body).digest('hex');
}
