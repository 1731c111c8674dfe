// Verdicts by (tenant, review_id), so a repeated review_id gets the first verdict and never a second
// model call. Bounded in entries and age; an entry holds the pending promise while the review runs.
import type { Verdict } from '@paddock/contracts';

export type CachedReview = { fingerprint: string; verdict: Promise<Verdict>; storedAt: number };

export type VerdictCache = {
  get(workspace: string, reviewId: string): CachedReview | undefined;
  set(workspace: string, reviewId: string, entry: CachedReview): void;
  readonly size: number;
};

export function createVerdictCache(opts: { maxEntries: number; ttlMs: number }): VerdictCache {
  // A Map iterates in insertion order: the first entries are the oldest.
  const entries = new Map<string, CachedReview>();
  const keyOf = (workspace: string, reviewId: string) => `${workspace}\u0000${reviewId}`;
  return {
    get(workspace, reviewId) {
      const key = keyOf(workspace, reviewId);
      const entry = entries.get(key);
      if (entry && performance.now() - entry.storedAt > opts.ttlMs) {
        entries.delete(key);
        return undefined;
      }
      return entry;
    },
    set(workspace, reviewId, entry) {
      entries.set(keyOf(workspace, reviewId), entry);
      while (entries.size > opts.maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    get size() {
      return entries.size;
    },
  };
}
