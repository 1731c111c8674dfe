// Page sizes (a default, and a maximum a client cannot exceed) and opaque offset cursors.
import { badRequest } from '@paddock/platform';
import type { OrchestratorSettings } from './settings.ts';

export function pageLimit(settings: OrchestratorSettings, limit: number | undefined): number {
  if (limit === undefined) return settings.defaultPageSize;
  if (limit > settings.maxPageSize)
    throw badRequest(`limit must be at most ${settings.maxPageSize}`, 'limit');
  return limit;
}

export const encodeOffset = (offset: number): string => Buffer.from(`o:${offset}`).toString('base64url');

export function decodeOffset(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const m = /^o:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw badRequest('cursor is not one this API gave', 'cursor');
  return Number(m[1]);
}

/** One page of a sorted set (oldest first) by offset cursor. */
export async function zsetPage(
  list: (start: number, stop: number) => Promise<string[]>,
  cursor: string | undefined,
  limit: number,
): Promise<{ ids: string[]; next_cursor: string | null }> {
  const offset = decodeOffset(cursor);
  const ids = await list(offset, offset + limit); // one extra tells whether another page exists
  return {
    ids: ids.slice(0, limit),
    next_cursor: ids.length > limit ? encodeOffset(offset + limit) : null,
  };
}
