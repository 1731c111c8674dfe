// Who is calling: a bearer access token resolved to a workspace member (or the operator key for
// workspace creation), then the rate limits (rate-limit.ts). Expired, revoked or unknown tokens are 401;
// role checks are 403; another workspace's resources are 404 (see ownedBy).
import { forbidden, notFound, PaddockError, unauthorized } from '@paddock/platform';
import type { Member, Role } from './api/tenancy.ts';
import { keys } from '@paddock/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { RateLimits } from './rate-limit.ts';
import { parseMember } from './stores/members.ts';
import { ALL_SCOPES, type Scope } from './scopes.ts';
import type { OrchestratorSettings } from './settings.ts';
import { secretsEqual, verifySecret } from './stores/tokens.ts';

export type Principal = {
  workspaceId: string;
  email: string;
  role: Role;
  canCreateTokens: boolean;
  /** The analytics viewer permission (owners and admins read analytics without it). */
  canViewAnalytics: boolean;
  tokenId: string;
  /** What this token may be used for (see scopes.ts). */
  scopes: readonly Scope[];
};

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** Routes that do their own authentication (workspace creation with the operator key). */
    public?: boolean;
    /** The token scope every authenticated route needs; a route without one is refused (fail closed). */
    scope?: Scope;
  }
}

export type AuthDeps = { redis: Redis; settings: OrchestratorSettings; now: () => number; limits?: RateLimits };

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

export async function loadMember(
  redis: Redis,
  workspaceId: string,
  email: string,
): Promise<Member | undefined> {
  const raw = await redis.hget(keys.members(workspaceId), email.toLowerCase());
  return raw ? parseMember(raw) : undefined;
}

/** onRequest hook of every /v1 route but workspace creation. */
export function authenticate(deps: AuthDeps) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    // A refused token is counted against the caller's address first, so guessing tokens is rate-limited.
    const refuse = async (message: string) => {
      await deps.limits?.anonymous(req, reply);
      return unauthorized(message);
    };
    const secret = bearer(req);
    if (!secret) throw await refuse('missing bearer access token');
    const token = await verifySecret(deps.redis, secret);
    if (!token) throw await refuse('invalid access token');
    if (token.revoked_at) throw await refuse('access token revoked');
    if (token.expires_at && Date.parse(token.expires_at) <= deps.now())
      throw await refuse('access token expired');
    const member = await loadMember(deps.redis, token.workspace_id, token.member_email);
    if (!member) throw await refuse('the token owner is no longer a member');
    await deps.limits?.authenticated(req, reply, { tokenId: token.id, workspaceId: token.workspace_id });
    req.principal = {
      workspaceId: token.workspace_id,
      email: member.email,
      role: member.role,
      canCreateTokens: member.can_create_tokens,
      canViewAnalytics: member.can_view_analytics === true,
      tokenId: token.id,
      scopes: token.scopes ?? ALL_SCOPES,
    };
    requireScope(req, req.principal);
  };
}

/** The central scope check: the route's required scope must be among the token's. */
function requireScope(req: FastifyRequest, p: Principal): void {
  const scope = (req.routeOptions.config as { scope?: Scope }).scope;
  if (!scope) throw forbidden('this route declares no token scope; refused');
  if (!p.scopes.includes(scope))
    throw new PaddockError('insufficient_scope', `this access token lacks the scope ${scope}`, {
      status: 403,
      details: { required_scope: scope },
    });
}

/** onRequest hook of workspace creation: the operator key from config/env, compared in constant time. */
export function authenticateOperator(deps: AuthDeps) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    await deps.limits?.anonymous(req, reply);
    const secret = bearer(req);
    if (!deps.settings.operatorKey) throw unauthorized('no operator key is configured on this server');
    if (!secret || !secretsEqual(secret, deps.settings.operatorKey))
      throw unauthorized('invalid operator key');
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthorized();
  return req.principal;
}

/** The caller's own workspace, or 404 (another tenant's workspace does not exist for them). */
export function requireWorkspace(req: FastifyRequest, ws: string): Principal {
  const p = principalOf(req);
  if (p.workspaceId !== ws) throw notFound('workspace');
  return p;
}

export function requireRole(p: Principal, roles: Role[], what: string): void {
  if (!roles.includes(p.role)) throw forbidden(`${what} needs role ${roles.join(' or ')}`);
}

/** A record of another workspace is answered exactly like a missing one. */
export function ownedBy<T extends { workspace_id: string }>(
  p: Principal,
  rec: T | undefined,
  what: string,
): T {
  if (!rec || rec.workspace_id !== p.workspaceId) throw notFound(what);
  return rec;
}

export const actorOf = (p: Principal) => ({ email: p.email, tokenId: p.tokenId });
