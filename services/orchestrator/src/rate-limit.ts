// API rate limits on @fastify/rate-limit with its Redis store (so every orchestrator replica shares
// the counts): per token, per workspace (all its tokens together, so minting tokens buys no rate),
// and per client address for calls without a valid token. Every answer carries RateLimit-* and
// X-RateLimit-* headers of the tightest limit; a 429 adds Retry-After and names the limit.
import rateLimit from '@fastify/rate-limit';
import { keys } from '@paddock/contracts';
import { PaddockError } from '@paddock/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { OrchestratorSettings } from './settings.ts';

type Verdict = { name: string; max: number; remaining: number; resetSec: number; exceeded: boolean };
type Checker = (req: FastifyRequest) => Promise<Verdict>;

export type RateLimits = {
  /** A call without a valid token (or the operator's workspace creation): counted per client address. */
  anonymous(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** An authenticated call: counted per token and per workspace. */
  authenticated(req: FastifyRequest, reply: FastifyReply, who: { tokenId: string; workspaceId: string }): Promise<void>;
};

declare module 'fastify' {
  interface FastifyRequest {
    /** Set before the token limiters run: the ids they count by. */
    rateSubject?: { tokenId: string; workspaceId: string };
  }
}

export async function installRateLimits(
  app: FastifyInstance,
  deps: { redis: Redis; settings: Pick<OrchestratorSettings, 'rateLimit'> },
): Promise<RateLimits> {
  const { rateLimit: limits } = deps.settings;
  // global: false — no hook is added to any route; auth.ts runs the checkers at the right moment.
  await app.register(rateLimit, {
    global: false,
    redis: deps.redis,
    nameSpace: keys.rateNamespace(),
    skipOnError: false, // Redis down: the request fails (503) rather than running unlimited
  });
  const checker = (name: string, max: number, key: (req: FastifyRequest) => string): Checker => {
    const check = app.createRateLimit({ max, timeWindow: limits.windowMs, keyGenerator: key });
    return async (req) => {
      const r = await check(req);
      if (r.isAllowed) return { name, max, remaining: max, resetSec: 0, exceeded: false };
      return { name, max: r.max, remaining: r.remaining, resetSec: r.ttlInSeconds, exceeded: r.isExceeded };
    };
  };
  const perAddress = checker('anonymous_requests (per client address)', limits.anonymousRequests, (req) => `ip:${req.ip}`);
  const perToken = checker('requests (per token)', limits.requests, (req) => `tok:${req.rateSubject?.tokenId}`);
  const perWorkspace = checker(
    'workspace_requests (per workspace)',
    limits.workspaceRequests,
    (req) => `ws:${req.rateSubject?.workspaceId}`,
  );

  const apply = (reply: FastifyReply, verdicts: Verdict[]) => {
    const exceeded = verdicts.find((v) => v.exceeded);
    const tightest = exceeded ?? verdicts.reduce((a, b) => (b.remaining < a.remaining ? b : a));
    for (const prefix of ['ratelimit', 'x-ratelimit']) {
      reply.header(`${prefix}-limit`, String(tightest.max));
      reply.header(`${prefix}-remaining`, String(exceeded ? 0 : tightest.remaining));
      reply.header(`${prefix}-reset`, String(tightest.resetSec));
    }
    if (exceeded) {
      reply.header('retry-after', String(Math.max(1, exceeded.resetSec)));
      throw new PaddockError(
        'rate_limited',
        `rate limit ${exceeded.name}: ${exceeded.max} requests per ${limits.windowMs} ms; retry after ${Math.max(1, exceeded.resetSec)} s`,
        { status: 429, details: { limit: exceeded.name, max: exceeded.max, window_ms: limits.windowMs } },
      );
    }
  };

  return {
    async anonymous(req, reply) {
      apply(reply, [await perAddress(req)]);
    },
    async authenticated(req, reply, who) {
      req.rateSubject = who;
      apply(reply, await Promise.all([perToken(req), perWorkspace(req)]));
    },
  };
}
