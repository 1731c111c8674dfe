// The decision stream writer: every decision is buffered and appended to the Redis stream in
// batches (one pipeline per flush), with per-sandbox byte counters. When records cannot be
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
    const bytes = new Map<string, { in: number; out: number; n: number }>();
    for (const r of batch) {
      pipeline.xadd(egressKeys.decisions, 'MAXLEN', '~', maxStreamLength, '*', ...decisionToFields(r));
      if (!r.sandbox_id) continue;
      const b = bytes.get(r.sandbox_id) ?? { in: 0, out: 0, n: 0 };
      b.in += r.bytes_in;
      b.out += r.bytes_out;
      b.n += 1;
      bytes.set(r.sandbox_id, b);
    }
    for (const [sandboxId, b] of bytes) {
      const key = egressKeys.sandboxBytes(sandboxId);
      pipeline.hincrby(key, 'bytes_in', b.in).hincrby(key, 'bytes_out', b.out).hincrby(key, 'requests', b.n);
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
