// Reads of a thread's event stream, for the events route: a batch after an id (exclusive), and a
// blocking wait for the next batch on a connection of the caller's own (XREAD BLOCK holds it).
import { keys, parseEntries, type ThreadEvent } from '@paddock/contracts';
import type { Redis } from 'ioredis';

export type StoredEvent = { id: string; event: ThreadEvent };
type Rows = [string, string[]][];

/** Up to `count` events after `afterId` (exclusive); `lastId` is where the next read starts. */
export async function eventsAfter(
  redis: Redis,
  threadId: string,
  afterId: string,
  count: number,
): Promise<{ events: StoredEvent[]; lastId: string | undefined; full: boolean }> {
  const rows = (await redis.xrange(keys.events(threadId), `(${afterId}`, '+', 'COUNT', count)) as Rows;
  return { events: parseEntries(rows), lastId: rows.at(-1)?.[0], full: rows.length >= count };
}

/** Waits up to `blockMs` for events after `afterId` on `reader`; none (empty) when the wait ran out. */
export async function nextEvents(
  reader: Redis,
  threadId: string,
  afterId: string,
  count: number,
  blockMs: number,
): Promise<{ events: StoredEvent[]; lastId: string | undefined }> {
  const got = (await reader.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', keys.events(threadId), afterId)) as
    | [string, Rows][]
    | null;
  const rows = got?.[0]?.[1] ?? [];
  return { events: parseEntries(rows), lastId: rows.at(-1)?.[0] };
}
