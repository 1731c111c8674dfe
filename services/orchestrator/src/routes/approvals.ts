// Approvals (actions waiting for a person) and denials (the last 10; one may be approved for a
// single retry of exactly that action). Each is decided once: the first decision wins, later ones 409.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { notFound, PaddockError } from '@paddock/platform';
import {
  Approval,
  ApprovalList,
  ApprovalsQuery,
  DecideApprovalBody,
  Denial,
  DenialList,
  DenialParams,
  IdParams,
} from '../api/threads.ts';
import { ErrorResponse } from '../api/common.ts';
import {
  approveDenial,
  decideApproval,
  DENIALS_KEPT,
  listApprovals,
  loadApproval,
  recentDenials,
} from '@paddock/turn-queue';
import type { FastifyInstance } from 'fastify';
import { audit } from '../stores/audit.ts';
import { actorOf, ownedBy, principalOf } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { loadThread } from '../stores/threads.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

export function approvalRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/v1/threads/:id/approvals',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'listThreadApprovals',
        summary: "The thread's approval requests, newest first (at most max_page_size)",
        tags: ['approvals'],
        params: IdParams,
        querystring: ApprovalsQuery,
        response: { 200: ApprovalList, ...errors },
      },
    },
    async (req) => {
      const thread = await loadThread(ctx.redis, principalOf(req), req.params.id);
      const items = await listApprovals(ctx.redis, thread.id, {
        limit: ctx.settings.maxPageSize,
        status: req.query.status,
      });
      return { items };
    },
  );

  r.post(
    '/v1/approvals/:id',
    {
      config: { scope: 'threads.write' },
      schema: {
        operationId: 'decideApproval',
        summary: 'Decide an approval request: approve, approve_for_thread, deny or abort',
        tags: ['approvals'],
        params: IdParams,
        body: DecideApprovalBody,
        response: { 200: Approval, ...errors, 409: ErrorResponse },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const rec = ownedBy(p, await loadApproval(ctx.redis, req.params.id), 'approval');
      const decision = req.body.decision;
      const next = await decideApproval(ctx.redis, rec, decision, p.email);
      if (next === 'already_decided') {
        throw new PaddockError('already_decided', 'this approval request was already decided', {
          status: 409,
        });
      }
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'approval.decided', rec.id, {
        decision,
        turn_id: rec.turn_id,
      });
      return next;
    },
  );

  r.get(
    '/v1/threads/:id/denials',
    {
      config: { scope: 'threads.read' },
      schema: {
        operationId: 'listThreadDenials',
        summary: `The thread's last ${DENIALS_KEPT} denials, newest first`,
        tags: ['approvals'],
        params: IdParams,
        response: { 200: DenialList, ...errors },
      },
    },
    async (req) => {
      const thread = await loadThread(ctx.redis, principalOf(req), req.params.id);
      return { items: await recentDenials(ctx.redis, thread.id) };
    },
  );

  r.post(
    '/v1/threads/:id/denials/:denial_id/approve',
    {
      config: { scope: 'threads.write' },
      schema: {
        operationId: 'approveDenial',
        summary: 'Allow one retry of exactly the denied action (the retry is still reviewed)',
        tags: ['approvals'],
        params: DenialParams,
        response: { 200: Denial, ...errors, 409: ErrorResponse },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const thread = await loadThread(ctx.redis, p, req.params.id);
      const denial = (await recentDenials(ctx.redis, thread.id)).find((d) => d.id === req.params.denial_id);
      if (!denial) throw notFound('denial');
      const next = await approveDenial(ctx.redis, thread.id, denial, p.email, p.workspaceId);
      if (next === 'missing') throw notFound('denial');
      if (next === 'already') {
        throw new PaddockError('already_approved', 'a retry of this denial was already approved', { status: 409 });
      }
      await audit(ctx.redis, p.workspaceId, actorOf(p), 'denial.approved', denial.id, {
        thread_id: thread.id,
      });
      return next;
    },
  );
}
