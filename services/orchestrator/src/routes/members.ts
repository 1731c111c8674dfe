// Workspace members: owners and admins add, list, change and remove them; members get 403 and another
// workspace's id 404. Admins never touch an owner nor make one; the last owner stays. Removing a
// member revokes every live token they hold, each recorded in the audit log.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { forbidden, notFound, PaddockError } from '@paddock/platform';
import {
  AddMemberBody,
  AddMemberResponse,
  Member,
  MemberPage,
  MemberParams,
  RemovedMember,
  type Role,
  UpdateMemberBody,
  WorkspaceParams,
} from '../api/tenancy.ts';
import { ErrorResponse, PageQuery } from '../api/common.ts';
import type { FastifyInstance } from 'fastify';
import { audit } from '../stores/audit.ts';
import { actorOf, type Principal, requireRole, requireWorkspace } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { addMember, listMembers, type MemberChange, readMember, replaceMember } from '../stores/members.ts';
import { decodeOffset, encodeOffset, pageLimit } from '../paging.ts';
import { createToken, memberTokens, revokeToken, tokenView } from '../stores/tokens.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const MANAGERS: Role[] = ['owner', 'admin'];

/** An admin may not change or remove an owner, nor give anyone the owner role. */
function checkAdminReach(p: Principal, target: Member, nextRole: Role | undefined): void {
  if (p.role === 'owner') return;
  if (target.role === 'owner') throw forbidden('only owners change or remove an owner');
  if (nextRole === 'owner')
    throw new PaddockError('forbidden', 'only owners make owners', { status: 403, field: 'role' });
}

function changeRefused(outcome: Exclude<MemberChange, 'ok'>, email: string): PaddockError {
  switch (outcome) {
    case 'missing':
      return notFound('member');
    case 'changed':
      return new PaddockError('conflict', `${email} was changed meanwhile; read it again`, { status: 409 });
    case 'last_owner':
      return new PaddockError('last_owner', 'the workspace must keep at least one owner', {
        status: 409,
        field: 'role',
      });
  }
}

export function memberRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/workspaces/:ws/members',
    {
      config: { scope: 'members.manage' },
      schema: {
        operationId: 'addMember',
        summary: 'Add a member (owners and admins); answers their first access token, once',
        tags: ['tenancy'],
        params: WorkspaceParams,
        body: AddMemberBody,
        response: { 201: AddMemberResponse, ...errors, 409: ErrorResponse },
      },
    },
    async (req, reply) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, MANAGERS, 'adding members');
      if (req.body.role === 'owner' && p.role !== 'owner')
        throw new PaddockError('forbidden', 'only owners add owners', { status: 403, field: 'role' });
      const email = req.body.email.toLowerCase();
      const member: Member = {
        email,
        role: req.body.role,
        can_create_tokens: req.body.can_create_tokens,
        can_view_analytics: req.body.can_view_analytics ?? false,
        added_by: p.email,
        added_at: new Date().toISOString(),
      };
      if (!(await addMember(ctx.redis, p.workspaceId, member)))
        throw new PaddockError('conflict', `${email} is already a member`, { status: 409, field: 'email' });
      const { record, secret } = await createToken(ctx.redis, {
        workspaceId: p.workspaceId,
        memberEmail: email,
        createdBy: p.email,
        name: 'initial',
        expiresAt: null,
      });
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'member.added', email, {
        role: member.role,
        can_create_tokens: member.can_create_tokens,
        can_view_analytics: member.can_view_analytics,
      });
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'token.created', record.id, {
        member_email: email,
        name: record.name,
      });
      return reply.code(201).send({ member, access_token: { ...tokenView(record), secret } });
    },
  );

  r.get(
    '/v1/workspaces/:ws/members',
    {
      config: { scope: 'members.manage' },
      schema: {
        operationId: 'listMembers',
        summary: 'List members by e-mail (owners and admins)',
        tags: ['tenancy'],
        params: WorkspaceParams,
        querystring: PageQuery,
        response: { 200: MemberPage, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, MANAGERS, 'listing members');
      const limit = pageLimit(ctx.settings, req.query.limit);
      const offset = decodeOffset(req.query.cursor);
      const all = await listMembers(ctx.redis, p.workspaceId);
      return {
        items: all.slice(offset, offset + limit),
        next_cursor: all.length > offset + limit ? encodeOffset(offset + limit) : null,
      };
    },
  );

  r.patch(
    '/v1/workspaces/:ws/members/:email',
    {
      config: { scope: 'members.manage' },
      schema: {
        operationId: 'updateMember',
        summary: "Change a member's role, token or analytics permission (owners; admins for non-owners)",
        tags: ['tenancy'],
        params: MemberParams,
        body: UpdateMemberBody,
        response: { 200: Member, ...errors, 409: ErrorResponse },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, MANAGERS, 'changing members');
      const read = await readMember(ctx.redis, p.workspaceId, req.params.email);
      if (!read) throw notFound('member');
      checkAdminReach(p, read.member, req.body.role);
      const next: Member = {
        ...read.member,
        ...(req.body.role !== undefined ? { role: req.body.role } : {}),
        ...(req.body.can_create_tokens !== undefined ? { can_create_tokens: req.body.can_create_tokens } : {}),
        ...(req.body.can_view_analytics !== undefined
          ? { can_view_analytics: req.body.can_view_analytics }
          : {}),
      };
      const outcome = await replaceMember(ctx.redis, p.workspaceId, read, next);
      if (outcome !== 'ok') throw changeRefused(outcome, read.member.email);
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'member.updated', next.email, {
        role: next.role,
        can_create_tokens: next.can_create_tokens,
        can_view_analytics: next.can_view_analytics,
        previous: {
          role: read.member.role,
          can_create_tokens: read.member.can_create_tokens,
          can_view_analytics: read.member.can_view_analytics,
        },
      });
      return next;
    },
  );

  r.delete(
    '/v1/workspaces/:ws/members/:email',
    {
      config: { scope: 'members.manage' },
      schema: {
        operationId: 'removeMember',
        summary: 'Remove a member and revoke their tokens (owners; admins for non-owners)',
        tags: ['tenancy'],
        params: MemberParams,
        response: { 200: RemovedMember, ...errors, 409: ErrorResponse },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, MANAGERS, 'removing members');
      const read = await readMember(ctx.redis, p.workspaceId, req.params.email);
      if (!read) throw notFound('member');
      checkAdminReach(p, read.member, undefined);
      const outcome = await replaceMember(ctx.redis, p.workspaceId, read, null);
      if (outcome !== 'ok') throw changeRefused(outcome, read.member.email);
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'member.removed', read.member.email, {
        role: read.member.role,
      });
      // Their tokens already fail (auth needs a member); revoking keeps them dead if the e-mail is added again.
      const at = new Date(ctx.now()).toISOString();
      const revokedIds: string[] = [];
      for (const token of await memberTokens(ctx.redis, p.workspaceId, read.member.email)) {
        if (token.revoked_at) continue;
        await revokeToken(ctx.redis, token, at);
        revokedIds.push(token.id);
        await audit(ctx.redis, p.workspaceId, actorOf(p), 'token.revoked', token.id, {
          member_email: token.member_email,
          reason: 'member_removed',
        });
      }
      return { member: read.member, revoked_token_ids: revokedIds };
    },
  );
}
