// Access-token scopes: what a token may be used for. Every authenticated route names the one scope it
// needs in its route config (`config: { scope }`); auth.ts refuses a token without it (403) and refuses
// a route that names none (fail closed). Scopes only narrow a token: role and permission checks still
// apply, so a scope never grants what the token's member may not do.
export const SCOPES = [
  'threads.read',
  'threads.write',
  'environments.read',
  'environments.write',
  'requirements.read',
  'requirements.write',
  'audit.read',
  'tokens.manage',
  'members.manage',
  'analytics.read',
  'files.read',
  'files.write',
  'webhooks.manage',
] as const;
export type Scope = (typeof SCOPES)[number];

/** A token created without `scopes` (and every token stored before scopes existed) may do everything. */
export const ALL_SCOPES: readonly Scope[] = SCOPES;

export const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);
