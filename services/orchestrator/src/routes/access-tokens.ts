// Access tokens: create (secret shown once), list (never the secret), revoke (immediate).
// Owners manage every token of the workspace, admins every token but an owner's; members with the
// token permission only their own; a member without it has no token page at all (every route 403).
// Creation stops at the per-member cap of live tokens.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { forbidden, notFound } from '@paddock/platform';
import {
  AccessTokenPage,
  AccessTokenView,
  CreateAccessTokenBody,
  CreatedAccessToken,
  TokenParams,
  WorkspaceParams,
} from '../api/tenancy.ts';
import { ErrorResponse, PageQuery } from '../api/common.ts';
import type { FastifyInstance } from 'fastify';
import { audit } from '../stores/audit.ts';
import { actorOf, loadMember, type Principal, requireWorkspace } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { pageLimit, zsetPage } from '../paging.ts';
import {
  createToken,
  loadToken,
  revokeToken,
  type TokenRecord,
  tokenView,
  workspaceTokenIds,
} from '../stores/tokens.ts';

const DAY_MS = 86_400_000;
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const manager = (p: Principal) => p.role === 'owner' || p.role === 'admin';

/** Codex's permission table: a member without the token permission does not see the tokens page. */
function requireTokenPage(p: Principal): void {
  if (!manager(p) && !p.canCreateTokens)
    throw forbidden('this member has no access-token permission (ask an owner or admin for can_create_tokens)');
}

export function accessTokenRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/workspaces/:ws/access-tokens',
    {
      config: { scope: 'tokens.manage' },
      schema: {
        operationId: 'createAccessToken',
        summary: 'Create an access token for yourself; the secret is in this answer only',
        tags: ['tenancy'],
        params: WorkspaceParams,
        body: CreateAccessTokenBody,
        response: { 201: CreatedAccessToken, ...errors, 409: ErrorResponse },
      },
    },
    async (req, reply) => {
      const p = requireWorkspace(req, req.params.ws);
      requireTokenPage(p);
      const days = req.body.expires_in_days;
      const { record, secret } = await createToken(ctx.redis, {
        workspaceId: p.workspaceId,
        memberEmail: p.email,
        createdBy: p.email,
        name: req.body.name,
        expiresAt: days === null ? null : new Date(ctx.now() + days * DAY_MS).toISOString(),
        scopes: req.body.scopes,
        maxLiveTokens: ctx.settings.maxTokensPerMember,
        nowMs: ctx.now(),
      });
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'token.created', record.id, {
        name: record.name,
        expires_at: record.expires_at,
        scopes: record.scopes,
      });
      return reply.code(201).send({ ...tokenView(record), secret });
    },
  );

  r.get(
    '/v1/workspaces/:ws/access-tokens',
    {
      config: { scope: 'tokens.manage' },
      schema: {
        operationId: 'listAccessTokens',
        summary: 'List tokens (owners and admins: all; members: their own); never the secrets',
        tags: ['tenancy'],
        params: WorkspaceParams,
        querystring: PageQuery,
        response: { 200: AccessTokenPage, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireTokenPage(p);
      const limit = pageLimit(ctx.settings, req.query.limit);
      // Members see their own tokens: filter while paging so a page is never short for that reason.
      const all = manager(p);
      const page = await zsetPage(
        async (start, stop) => {
          if (all) return workspaceTokenIds(ctx.redis, p.workspaceId, start, stop);
          const ids = await workspaceTokenIds(ctx.redis, p.workspaceId, 0, -1);
          const recs = await Promise.all(ids.map((id) => loadToken(ctx.redis, id)));
          return recs
            .filter((t): t is TokenRecord => t?.member_email === p.email)
            .map((t) => t.id)
            .slice(start, stop + 1);
        },
        req.query.cursor,
        limit,
      );
      const recs = await Promise.all(page.ids.map((id) => loadToken(ctx.redis, id)));
      return {
        items: recs.filter((t): t is TokenRecord => t !== undefined).map(tokenView),
        next_cursor: page.next_cursor,
      };
    },
  );

  r.delete(
    '/v1/workspaces/:ws/access-tokens/:id',
    {
      config: { scope: 'tokens.manage' },
      schema: {
        operationId: 'revokeAccessToken',
        summary: 'Revoke a token, effective at once',
        tags: ['tenancy'],
        params: TokenParams,
        response: { 200: AccessTokenView, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireTokenPage(p);
      const token = await loadToken(ctx.redis, req.params.id);
      if (!token || token.workspace_id !== p.workspaceId) throw notFound('access token');
      if (!manager(p) && token.member_email !== p.email)
        throw forbidden('members revoke only their own tokens');
      if (p.role === 'admin' && token.member_email !== p.email) {
        const holder = await loadMember(ctx.redis, p.workspaceId, token.member_email);
        if (holder?.role === 'owner') throw forbidden("only owners revoke an owner's tokens");
      }
      const revoked = await revokeToken(ctx.redis, token, new Date(ctx.now()).toISOString());
      if (revoked !== token) {
        await audit(ctx.redis, p.workspaceId, actorOf(p), 'token.revoked', token.id, {
          member_email: token.member_email,
        });
      }
      return tokenView(revoked);
    },
  );
}
