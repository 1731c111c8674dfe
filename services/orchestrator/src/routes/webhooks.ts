// Workspace webhooks: owners and admins create, list and delete them and read their delivery log;
// members get 403, another workspace's ids 404. The signing secret is shown once, at creation.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { notFound, PaddockError } from '@paddock/platform';
import type { FastifyInstance } from 'fastify';
import { ErrorResponse } from '../api/common.ts';
import { WorkspaceParams } from '../api/tenancy.ts';
import { CreatedWebhook, CreateWebhookBody, DeletedWebhook, DeliveryList, Webhook, WebhookList, WebhookParams } from '../api/webhooks.ts';
import { actorOf, requireRole, requireWorkspace } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { audit } from '../stores/audit.ts';
import {
  deleteWebhook,
  listDeliveries,
  listWebhooks,
  loadWebhook,
  newWebhookId,
  newWebhookSecret,
  saveNewWebhook,
  type WebhookRecord,
} from '../stores/webhooks.ts';
import { checkWebhookUrl } from '../webhooks/destination.ts';
import { webhookSealer } from '../webhooks/seal.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const MANAGERS = ['owner', 'admin'] as const;

const view = ({ secret_sealed: _sealed, workspace_id: _ws, ...rest }: WebhookRecord) => rest;

export function webhookRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/workspaces/:ws/webhooks',
    {
      config: { scope: 'webhooks.manage' },
      schema: {
        operationId: 'createWebhook',
        summary: 'Add a webhook (owners and admins); its signing secret is shown once',
        tags: ['webhooks'],
        params: WorkspaceParams,
        body: CreateWebhookBody,
        response: { 201: CreatedWebhook, ...errors, 409: ErrorResponse },
      },
    },
    async (req, reply) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, [...MANAGERS], 'managing webhooks');
      if (!ctx.settings.operatorKey)
        throw new PaddockError('webhooks_unavailable', 'webhooks need the operator key configured (it seals their secrets)', { status: 409 });
      const url = checkWebhookUrl(req.body.url, ctx.settings.webhooks);
      const secret = newWebhookSecret();
      const rec: WebhookRecord = {
        id: newWebhookId(),
        workspace_id: p.workspaceId,
        url,
        events: req.body.events,
        ...(req.body.description !== undefined ? { description: req.body.description } : {}),
        created_at: new Date(ctx.now()).toISOString(),
        created_by: p.email,
        secret_sealed: webhookSealer(ctx.settings.operatorKey).seal(secret),
      };
      const max = ctx.settings.webhooks.maxWebhooksPerWorkspace;
      if (!(await saveNewWebhook(ctx.redis, rec, max)))
        throw new PaddockError('too_many_webhooks', `a workspace may have at most ${max} webhooks (max_webhooks_per_workspace)`, { status: 409 });
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'webhook.created', rec.id, { url, events: rec.events });
      return reply.code(201).send({ ...view(rec), secret });
    },
  );

  r.get(
    '/v1/workspaces/:ws/webhooks',
    {
      config: { scope: 'webhooks.manage' },
      schema: {
        operationId: 'listWebhooks',
        summary: "The workspace's webhooks (owners and admins)",
        tags: ['webhooks'],
        params: WorkspaceParams,
        response: { 200: WebhookList, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, [...MANAGERS], 'reading webhooks');
      return { items: (await listWebhooks(ctx.redis, p.workspaceId)).map(view) };
    },
  );

  r.get(
    '/v1/workspaces/:ws/webhooks/:hook_id',
    {
      config: { scope: 'webhooks.manage' },
      schema: {
        operationId: 'getWebhook',
        summary: 'One webhook (owners and admins)',
        tags: ['webhooks'],
        params: WebhookParams,
        response: { 200: Webhook, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, [...MANAGERS], 'reading webhooks');
      const hook = await loadWebhook(ctx.redis, p.workspaceId, req.params.hook_id);
      if (!hook) throw notFound('webhook');
      return view(hook);
    },
  );

  r.delete(
    '/v1/workspaces/:ws/webhooks/:hook_id',
    {
      config: { scope: 'webhooks.manage' },
      schema: {
        operationId: 'deleteWebhook',
        summary: 'Remove a webhook and its delivery log; pending deliveries are cancelled (owners and admins)',
        tags: ['webhooks'],
        params: WebhookParams,
        response: { 200: DeletedWebhook, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, [...MANAGERS], 'managing webhooks');
      if (!(await deleteWebhook(ctx.redis, p.workspaceId, req.params.hook_id))) throw notFound('webhook');
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'webhook.deleted', req.params.hook_id, {});
      return { id: req.params.hook_id, deleted: true };
    },
  );

  r.get(
    '/v1/workspaces/:ws/webhooks/:hook_id/deliveries',
    {
      config: { scope: 'webhooks.manage' },
      schema: {
        operationId: 'listWebhookDeliveries',
        summary: "The webhook's delivery log, newest first: each event, its attempts and outcome (owners and admins)",
        tags: ['webhooks'],
        params: WebhookParams,
        response: { 200: DeliveryList, ...errors },
      },
    },
    async (req) => {
      const p = requireWorkspace(req, req.params.ws);
      requireRole(p, [...MANAGERS], 'reading webhook deliveries');
      const hook = await loadWebhook(ctx.redis, p.workspaceId, req.params.hook_id);
      if (!hook) throw notFound('webhook');
      const items = await listDeliveries(ctx.redis, hook.id, ctx.settings.webhooks.deliveriesKept);
      return { items: items.map(({ payload: _payload, workspace_id: _ws, webhook_id: _hook, ...rest }) => rest) };
    },
  );
}
