// Workspaces, managed requirements and the audit log (members: routes/members.ts).
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { badRequest, newId } from '@paddock/platform';
import { readRequirements } from '@paddock/config';
import {
  AuditExportQuery,
  AuditPage,
  AuditQuery,
  CreateWorkspaceBody,
  CreateWorkspaceResponse,
  type Member,
  WorkspaceParams,
} from '../api/tenancy.ts';
import { ErrorResponse } from '../api/common.ts';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { audit, auditExport, readAudit } from '../stores/audit.ts';
import { actorOf, type AuthDeps, authenticateOperator, requireRole, requireWorkspace } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { checkRequirementsFit } from '../effective-config.ts';
import { pageLimit } from '../paging.ts';
import { createToken, tokenView } from '../stores/tokens.ts';
import { loadRequirements, saveNewWorkspace, saveRequirements } from '../stores/workspaces.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

export function workspaceRoutes(app: FastifyInstance, ctx: RouteContext, authDeps: AuthDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/workspaces',
    {
      onRequest: authenticateOperator(authDeps),
      config: { public: true },
      schema: {
        operationId: 'createWorkspace',
        summary: 'Create a workspace and its first owner (operator key only)',
        tags: ['tenancy'],
        body: CreateWorkspaceBody,
        response: { 201: CreateWorkspaceResponse, ...errors },
      },
    },
    async (req, reply) => {
      const id = newId('ws');
      const now = new Date().toISOString();
      const email = req.body.owner_email.toLowerCase();
      const workspace = { id, name: req.body.name, created_at: now };
      const member: Member = {
        email,
        role: 'owner',
        can_create_tokens: true,
        can_view_analytics: false, // owners read analytics by role
        added_by: 'operator',
        added_at: now,
      };
      await saveNewWorkspace(ctx.redis, workspace, member);
      const { record, secret } = await createToken(ctx.redis, {
        workspaceId: id,
        memberEmail: email,
        createdBy: 'operator',
        name: 'owner',
        expiresAt: null,
      });
      const operator = { email: 'operator', tokenId: null };
      await audit(ctx.redis, id, operator, 'workspace.created', id, { name: workspace.name });
      await audit(ctx.redis, id, operator, 'member.added', email, { role: 'owner' });
      await audit(ctx.redis, id, operator, 'token.created', record.id, {
        member_email: email,
        name: record.name,
      });
      return reply.code(201).send({ workspace, owner_token: { ...tokenView(record), secret } });
    },
  );

  const requirementsSchema = {
    tags: ['tenancy'],
    params: WorkspaceParams,
    response: { 200: Type.Record(Type.String(), Type.Unknown()), ...errors },
  };

  r.get(
    '/v1/workspaces/:ws/requirements',
    { config: { scope: 'requirements.read' }, schema: { operationId: 'getRequirements', summary: 'Managed requirements (owners and admins)', ...requirementsSchema } },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, ['owner', 'admin'], 'reading requirements');
      return loadRequirements(ctx.redis, p.workspaceId);
    },
  );

  r.put(
    '/v1/workspaces/:ws/requirements',
    {
      config: { scope: 'requirements.write' },
      schema: {
        operationId: 'putRequirements',
        summary: 'Replace managed requirements: JSON, or TOML as application/toml (owners and admins)',
        ...requirementsSchema,
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, ['owner', 'admin'], 'changing requirements');
      const body = req.body as unknown;
      const requirements =
        typeof body === 'string'
          ? readRequirements({ source: 'requirements', text: body })
          : readRequirements({ source: 'requirements', value: body ?? {} });
      checkRequirementsFit(ctx.clusterFile.requirements ?? {}, requirements);
      await saveRequirements(ctx.redis, p.workspaceId, requirements);
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'requirements.updated', p.workspaceId, {
        requirements,
      });
      return requirements;
    },
  );

  r.get(
    '/v1/workspaces/:ws/audit-log',
    {
      config: { scope: 'audit.read' },
      schema: {
        operationId: 'getAuditLog',
        summary: 'Audit log, oldest first, by time range and cursor (owners and admins)',
        tags: ['tenancy'],
        params: WorkspaceParams,
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, ['owner', 'admin'], 'reading the audit log');
      return readAudit(ctx.redis, p.workspaceId, {
        ...req.query,
        limit: pageLimit(ctx.settings, req.query.limit),
      });
    },
  );

  r.get(
    '/v1/workspaces/:ws/audit-log/export',
    {
      config: { scope: 'audit.read' },
      schema: {
        operationId: 'exportAuditLog',
        summary:
          'Export the audit log as a streamed file, oldest first: JSONL or CSV, start_time inclusive, end_time exclusive (owners and admins)',
        tags: ['tenancy'],
        params: WorkspaceParams,
        querystring: AuditExportQuery,
        response: {
          200: Type.String({ description: 'application/jsonl, or text/csv with the header id,at,actor,token_id,action,target,details' }),
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, ['owner', 'admin'], 'exporting the audit log');
      const format = req.query.format ?? 'jsonl';
      const startMs = (req.query.start_time ?? 0) * 1000;
      const endMs = req.query.end_time !== undefined ? req.query.end_time * 1000 : undefined;
      if (endMs !== undefined && endMs <= startMs) throw badRequest('end_time must be after start_time', 'end_time');
      const stream = auditExport(ctx.redis, p.workspaceId, { format, startMs, endMs });
      // The file name holds only cluster-made parts: the workspace id and the format.
      return reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/jsonl; charset=utf-8')
        .header('content-disposition', `attachment; filename="audit-${p.workspaceId}.${format}"`)
        // A stream is sent as is (Fastify skips serialization); the schema documents its bytes.
        .send(stream as unknown as string);
    },
  );
}
