// A duration from the environment (a PADDOCK_* override of a schema key, such as the turn budgets):
// a positive whole number of milliseconds, or the fallback when unset; anything else stops start-up.
export function envMs(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (ms), got ${raw}`);
  return n;
}
