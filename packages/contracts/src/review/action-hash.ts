// The one canonical hash of an action, used wherever "the same action" matters: a user's override
// of a denial and `approve_for_thread` apply to this exact action only. An exec is compared by
// argv, cwd and requested permissions (not by its justification, which a retry may reword); any
// other action (network, file write, tool call) by all of its fields. Key order never matters.
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

/** What identifies an action: for an exec (`type` "exec" or absent with an argv), argv + cwd + permissions. */
function identity(action: Record<string, unknown>): unknown {
  const isExec = action['type'] === 'exec' || (action['type'] === undefined && Array.isArray(action['argv']));
  if (!isExec) return action;
  return { argv: action['argv'], cwd: action['cwd'], permissions: action['permissions'] ?? null };
}

export function actionHash(action: Record<string, unknown>): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(identity(action))))
    .digest('hex');
}
