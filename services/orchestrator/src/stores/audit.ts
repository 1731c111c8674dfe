// The workspace audit log: who created or revoked a token, who ran which turn with which model,
// and the other changes to a workspace. A Redis stream per workspace; ids are time-ordered, so a
// time range is a stream range and the cursor is the last id served.
import { badRequest } from '@paddock/platform';
import type { AuditEntry } from '../api/tenancy.ts';
import { appendAudit, type AuditActor, keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';

export type Actor = AuditActor;

/** Records one change to a workspace. */
export const audit = appendAudit;

const STREAM_ID = /^\d+-\d+$/;

export async function readAudit(
  redis: Redis,
  workspaceId: string,
  q: { from?: string; to?: string; cursor?: string; limit: number },
): Promise<{ items: AuditEntry[]; next_cursor: string | null }> {
  let start = q.from ? String(Date.parse(q.from)) : '-';
  const end = q.to ? String(Date.parse(q.to)) : '+';
  if (q.cursor !== undefined) {
    if (!STREAM_ID.test(q.cursor)) throw badRequest('cursor is not one this API gave', 'cursor');
    start = `(${q.cursor}`;
  }
  const rows = (await redis.xrange(keys.audit(workspaceId), start, end, 'COUNT', q.limit + 1)) as [
    string,
    string[],
  ][];
  const items = rows.slice(0, q.limit).map(([id, fields]) => ({
    id,
    ...(JSON.parse(fields[1] ?? '{}') as Omit<AuditEntry, 'id'>),
  }));
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > q.limit && last ? last.id : null };
}
