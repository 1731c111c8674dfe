// The workspace audit log: who created or revoked a token, who ran which turn with which model,
// and the other changes to a workspace. A Redis stream per workspace; ids are time-ordered, so a
// time range is a stream range and the cursor is the last id served. Export walks the same range
// page by page (never the whole log in memory); retention trims by age (trimAuditLogs).
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
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

/** Stream entries read per XRANGE while exporting: the most an export holds in memory at once. */
export const EXPORT_PAGE = 500;

/** The export's CSV columns, in order (the header line); `details` is the entry's details as JSON. */
export const AUDIT_CSV_COLUMNS = ['id', 'at', 'actor', 'token_id', 'action', 'target', 'details'] as const;

/** Every entry with `startMs <= time < endMs` (no end: up to the newest), oldest first, EXPORT_PAGE at a time. */
export async function* auditEntries(
  redis: Redis,
  workspaceId: string,
  range: { startMs: number; endMs?: number | undefined },
): AsyncGenerator<AuditEntry> {
  // A stream id's time is in ms: the range [start, end) is XRANGE start-0 .. (end-0 exclusive.
  let start = `${range.startMs}-0`;
  const end = range.endMs === undefined ? '+' : `(${range.endMs}-0`;
  for (;;) {
    const rows = (await redis.xrange(keys.audit(workspaceId), start, end, 'COUNT', EXPORT_PAGE)) as [
      string,
      string[],
    ][];
    for (const [id, fields] of rows) {
      yield { id, ...(JSON.parse(fields[1] ?? '{}') as Omit<AuditEntry, 'id'>) };
    }
    const last = rows[rows.length - 1];
    if (rows.length < EXPORT_PAGE || !last) return;
    start = `(${last[0]}`;
  }
}

/**
 * The export as a byte stream: one JSON object per line, or CSV with a fixed header, RFC 4180 quoting
 * and formula-looking cells escaped (a spreadsheet must not run a tenant's `=HYPERLINK(...)`).
 * Backpressure reaches Redis: the next page is read only when the reader has taken the last one.
 */
export function auditExport(
  redis: Redis,
  workspaceId: string,
  q: { format: 'jsonl' | 'csv'; startMs: number; endMs?: number | undefined },
): Readable {
  const entries = auditEntries(redis, workspaceId, q);
  if (q.format === 'jsonl') {
    return Readable.from(
      (async function* () {
        for await (const e of entries) yield `${JSON.stringify(e)}\n`;
      })(),
    );
  }
  const rows = Readable.from(
    (async function* () {
      for await (const e of entries) {
        yield [e.id, e.at, e.actor, e.token_id ?? '', e.action, e.target, JSON.stringify(e.details ?? {})];
      }
    })(),
  );
  const csv = stringify({ header: true, columns: [...AUDIT_CSV_COLUMNS], escape_formulas: true });
  rows.on('error', (err) => csv.destroy(err));
  return rows.pipe(csv);
}
