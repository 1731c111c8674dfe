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
import { actionHash, channels, keys } from '@paddock/contracts';
import {
  type ApprovalRecord,
  type ApprovalStatus,
  approveDenial,
  type DenialRecord,
  DENIALS_KEPT,
} from '@paddock/turn-queue';
import type { FastifyInstance } from 'fastify';
import { audit } from '../audit.ts';
import { actorOf, ownedBy, principalOf } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { loadThread } from './threads.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const DECISION_TTL_S = 86_400;
const STATUS_OF = {
  approve: 'approved',
  approve_for_thread: 'approved',
  deny: 'denied',
  abort: 'aborted',
} as const;

export function approvalRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/v1/threads/:id/approvals',
    {
      schema: {
        summary: "The thread's approval requests, newest first (at most max_page_size)",
        tags: ['approvals'],
        params: IdParams,
        querystring: ApprovalsQuery,
        response: { 200: ApprovalList, ...errors },
      },
    },
    async (req) => {
      const thread = await loadThread(ctx.redis, principalOf(req), req.params.id);
      const ids = await ctx.redis.zrevrange(keys.approvals(thread.id), 0, -1);
      const out: ApprovalRecord[] = [];
      for (let i = 0; i < ids.length && out.length < ctx.settings.maxPageSize; i += 100) {
        const raws = await ctx.redis.mget(ids.slice(i, i + 100).map((id) => keys.approval(id)));
        for (const raw of raws) {
          const rec = raw ? (JSON.parse(raw) as ApprovalRecord) : undefined;
          if (rec && (!req.query.status || rec.status === req.query.status)) out.push(rec);
        }
      }
      return { items: out.slice(0, ctx.settings.maxPageSize) };
    },
  );

  r.post(
    '/v1/approvals/:id',
    {
      schema: {
        summary: 'Decide an approval request: approve, approve_for_thread, deny or abort',
        tags: ['approvals'],
        params: IdParams,
        body: DecideApprovalBody,
        response: { 200: Approval, ...errors, 409: ErrorResponse },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const raw = await ctx.redis.get(keys.approval(req.params.id));
      const rec = ownedBy(p, raw ? (JSON.parse(raw) as ApprovalRecord) : undefined, 'approval');
      const decision = req.body.decision;
      const first = await ctx.redis.set(keys.approvalDecided(rec.id), decision, 'EX', DECISION_TTL_S, 'NX');
      if (first !== 'OK' || rec.status !== 'pending') {
        throw new PaddockError('already_decided', 'this approval request was already decided', {
          status: 409,
        });
      }
      const next: ApprovalRecord = {
        ...rec,
        status: STATUS_OF[decision] as ApprovalStatus,
        decision,
        decided_by: p.email,
        decided_at: new Date().toISOString(),
      };
      const tx = ctx.redis
        .multi()
        .set(keys.approval(rec.id), JSON.stringify(next))
        .rpush(keys.approvalDecision(rec.id), decision)
        .expire(keys.approvalDecision(rec.id), DECISION_TTL_S)
        .publish(channels.approvalDecided, rec.id);
      if (decision === 'approve_for_thread')
        tx.sadd(keys.approvedForThread(rec.thread_id), actionHash(rec.action));
      await tx.exec();
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
      schema: {
        summary: `The thread's last ${DENIALS_KEPT} denials, newest first`,
        tags: ['approvals'],
        params: IdParams,
        response: { 200: DenialList, ...errors },
      },
    },
    async (req) => {
      const thread = await loadThread(ctx.redis, principalOf(req), req.params.id);
      const raws = await ctx.redis.lrange(keys.denials(thread.id), 0, DENIALS_KEPT - 1);
      return { items: raws.map((raw) => JSON.parse(raw) as DenialRecord) };
    },
  );

  r.post(
    '/v1/threads/:id/denials/:denial_id/approve',
    {
      schema: {
        summary: 'Allow one retry of exactly the denied action (the retry is still reviewed)',
        tags: ['approvals'],
        params: DenialParams,
        response: { 200: Denial, ...errors, 409: ErrorResponse },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const thread = await loadThread(ctx.redis, p, req.params.id);
      const raws = await ctx.redis.lrange(keys.denials(thread.id), 0, DENIALS_KEPT - 1);
      const denial = raws.map((raw) => JSON.parse(raw) as DenialRecord).find((d) => d.id === req.params.denial_id);
      if (!denial) throw notFound('denial');
      const next = await approveDenial(ctx.redis, thread.id, denial, p.email);
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
