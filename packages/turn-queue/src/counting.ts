// Analytics counters written beside the action they count (a review, an approval request, its answer):
// fire and forget. A counter that fails is logged and dropped — it never blocks, delays or fails the
// action itself (the action's own records stay the source of truth; the buckets are statistics).
import { recordApproval, recordReview } from '@paddock/contracts';
import { createLogger, type Logger } from '@paddock/platform';
import type { Redis } from 'ioredis';

let log: Logger | undefined;
const logger = () => (log ??= createLogger('analytics'));

/** Runs one counter write in the background; a failure becomes a warning, never an error of the caller. */
export function countSafely(what: string, write: () => Promise<unknown>): void {
  let started: Promise<unknown>;
  try {
    started = write();
  } catch (err) {
    started = Promise.reject(err);
  }
  started.catch((err: unknown) => logger().warn({ err: (err as Error).message, what }, 'analytics counter not written'));
}

/** A completed guardian review, counted in the background (see countSafely). */
export function countReview(redis: Redis, r: Parameters<typeof recordReview>[1]): void {
  countSafely(`review:${r.outcome}`, () => recordReview(redis, r));
}

/** An approval request, answer or denial override, counted in the background (see countSafely). */
export function countApproval(redis: Redis, a: Parameters<typeof recordApproval>[1]): void {
  countSafely(`approval:${a.event}`, () => recordApproval(redis, a));
}
