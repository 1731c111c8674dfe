// The decision stream writer: every decision is buffered and appended to the Redis stream in
// batches (one script call per up to 500 records), with per-sandbox byte counters. When records cannot be
// written and the backlog passes its cap, the proxy refuses new requests (fail closed).
import { type DecisionRecord, decisionToFields, egressKeys } from '@paddock/contracts';
import type { Logger } from '@paddock/platform';
import type { Redis } from 'ioredis';

export type AuditLog = {
  record(decision: DecisionRecord): void;
  /** False when the backlog is over its cap: new requests must be refused. */
  accepting(): boolean;
  flush(): Promise<void>;
  close(): Promise<void>;
};

/**
 * One script call per batch instead of an XADD (and its reply, its promise) per record: the records
 * are appended in order, then each sandbox's byte totals added. KEYS: the stream, then one
 * `egress:bytes:<sandbox>` per sandbox; ARGV: MAXLEN, the record count, each record's `d` value,
 * then bytes in, bytes out and requests per sandbox key.
 */
const WRITE_BATCH = `
local n = tonumber(ARGV[2])
for i = 1, n do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[2 + i])
end
local j = 3 + n
for k = 2, #KEYS do
  redis.call('HINCRBY', KEYS[k], 'bytes_in', ARGV[j])
  redis.call('HINCRBY', KEYS[k], 'bytes_out', ARGV[j + 1])
  redis.call('HINCRBY', KEYS[k], 'requests', ARGV[j + 2])
  j = j + 3
end
return n
`;
/** Records per script call: bounds how long one call holds Redis. */
const SCRIPT_BATCH = 500;

export function createAuditLog(opts: {
  redis: Redis;
  logger: Logger;
  maxPending: number;
  flushIntervalMs?: number;
  /** Approximate stream length kept (XADD MAXLEN ~). */
  maxStreamLength?: number;
}): AuditLog {
  let buffer: DecisionRecord[] = [];
  let flushing: Promise<void> | undefined;
  const maxStreamLength = opts.maxStreamLength ?? 1_000_000;
  const timer = setInterval(() => void flush(), opts.flushIntervalMs ?? 20);
  timer.unref();

  async function writeBatch(batch: DecisionRecord[]): Promise<void> {
    const pipeline = opts.redis.pipeline();
    for (let i = 0; i < batch.length; i += SCRIPT_BATCH) {
      const part = batch.slice(i, i + SCRIPT_BATCH);
      const bytes = new Map<string, { in: number; out: number; n: number }>();
      for (const r of part) {
        if (!r.sandbox_id) continue;
        const b = bytes.get(r.sandbox_id) ?? { in: 0, out: 0, n: 0 };
        b.in += r.bytes_in;
        b.out += r.bytes_out;
        b.n += 1;
        bytes.set(r.sandbox_id, b);
      }
      const totals = [...bytes];
      pipeline.eval(
        WRITE_BATCH,
        1 + totals.length,
        egressKeys.decisions,
        ...totals.map(([sandboxId]) => egressKeys.sandboxBytes(sandboxId)),
        maxStreamLength,
        part.length,
        ...part.map((r) => decisionToFields(r)[1] as string),
        ...totals.flatMap(([, b]) => [b.in, b.out, b.n]),
      );
    }
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('pipeline aborted');
  }

  function flush(): Promise<void> {
    if (flushing) return flushing;
    if (buffer.length === 0) return Promise.resolve();
    const batch = buffer;
    buffer = [];
    flushing = writeBatch(batch)
      .catch((err: unknown) => {
        // Keep the records for the next attempt (newest last); the cap makes the proxy refuse.
        buffer = batch.concat(buffer);
        opts.logger.error({ err, pending: buffer.length }, 'decision records not written');
      })
      .finally(() => {
        flushing = undefined;
      });
    return flushing;
  }

  return {
    record(decision) {
      buffer.push(decision);
      if (buffer.length >= 512) void flush();
    },
    accepting: () => buffer.length < opts.maxPending,
    flush: async () => {
      await flushing;
      await flush();
    },
    close: async () => {
      clearInterval(timer);
      await flushing;
      await flush();
    },
  };
}
