// Audit retention: every workspace's audit stream loses its records older than `retentionDays`
// (XTRIM MINID: stream ids are times, so the cut is exact and costs only what it removes). Runs at
// start and then hourly; several orchestrators trimming the same streams is harmless (idempotent).
// Memory stays bounded by (records a workspace writes a day) × retention days.
import { keys } from '@paddock/contracts';
import type { Logger } from '@paddock/platform';
import type { Redis } from 'ioredis';

export const AUDIT_TRIM_INTERVAL_MS = 3_600_000;
/** Workspaces read from the registry per ZRANGE while trimming. */
const WORKSPACE_PAGE = 500;
const DAY_MS = 86_400_000;

/** Trims every workspace's audit log to the last `retentionDays`; answers how many records went. */
export async function trimAuditLogs(
  redis: Redis,
  o: { retentionDays: number; nowMs: number },
): Promise<{ workspaces: number; trimmed: number }> {
  const minId = `${o.nowMs - o.retentionDays * DAY_MS}-0`;
  let workspaces = 0;
  let trimmed = 0;
  for (let offset = 0; ; offset += WORKSPACE_PAGE) {
    const ids = await redis.zrange(keys.workspaces(), String(offset), String(offset + WORKSPACE_PAGE - 1));
    if (ids.length === 0) break;
    const p = redis.pipeline();
    for (const id of ids) p.xtrim(keys.audit(id), 'MINID', minId);
    for (const [err, n] of (await p.exec()) ?? []) {
      if (err) throw err;
      trimmed += Number(n);
    }
    workspaces += ids.length;
    if (ids.length < WORKSPACE_PAGE) break;
  }
  return { workspaces, trimmed };
}

/** Trims now and every AUDIT_TRIM_INTERVAL_MS until stopped; a failed run is logged and retried next time. */
export function startAuditRetention(o: {
  redis: Redis;
  retentionDays: number;
  logger: Logger;
  now: () => number;
  intervalMs?: number;
}): { stop: () => void } {
  let running: Promise<void> | undefined;
  const run = () => {
    running ??= trimAuditLogs(o.redis, { retentionDays: o.retentionDays, nowMs: o.now() })
      .then((r) => {
        if (r.trimmed > 0) o.logger.info({ ...r, retentionDays: o.retentionDays }, 'audit records trimmed');
      })
      .catch((err: unknown) => o.logger.warn({ err: (err as Error).message }, 'audit retention run failed'))
      .finally(() => {
        running = undefined;
      });
  };
  run();
  const timer = setInterval(run, o.intervalMs ?? AUDIT_TRIM_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
