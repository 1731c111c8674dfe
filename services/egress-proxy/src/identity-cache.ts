// The proxy's in-process copy of the identity keys (sandbox records, source mappings, exec
// credentials): a hit costs no Redis round trip; every writer publishes the keys it changed on
// `egressKeys.changed`, and a published key is dropped before the next request is decided.
// While the subscription is not live every read goes to Redis; entries also expire after ttlMs.
import { egressKeys } from '@paddock/contracts';
import type { Logger } from '@paddock/platform';
import type { Redis } from 'ioredis';

export type IdentityCache = {
  /** The keys' values, as MGET answers them (null: absent), from the cache where it holds them. */
  read(keys: readonly string[]): Promise<(string | null)[]>;
  /** True while invalidations are being received (tests wait for it). */
  live(): boolean;
  close(): Promise<void>;
};

type Entry = { value: string; fetchedAtMs: number };

export function createIdentityCache(opts: {
  redis: Redis;
  /** Reads the keys from Redis (the batched MGET). */
  mget: (keys: string[]) => Promise<(string | null)[]>;
  ttlMs: number;
  maxEntries?: number;
  logger?: Logger;
}): IdentityCache {
  const maxEntries = opts.maxEntries ?? 50_000;
  const entries = new Map<string, Entry>();
  // Bumped on every invalidation: a Redis read that started before one is not stored (it may
  // hold the value the invalidation replaced).
  let generation = 0;
  let subscribed = false;
  let closed = false;
  const sub = opts.redis.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
  const dropAll = () => {
    generation++;
    entries.clear();
  };
  sub.on('message', (_channel: string, message: string) => {
    generation++;
    for (const key of message.split('\n')) entries.delete(key);
  });
  sub.on('error', (err: Error) => opts.logger?.warn({ err: err.message }, 'identity cache subscriber'));
  // A lost connection may have lost invalidations: nothing cached is trusted from here, and
  // nothing is cached again until the channel is subscribed anew.
  sub.on('close', () => {
    subscribed = false;
    dropAll();
  });
  sub.on('ready', () => {
    if (closed) return;
    sub.subscribe(egressKeys.changed).then(
      () => {
        dropAll();
        subscribed = true;
      },
      (err: Error) => opts.logger?.warn({ err: err.message }, 'identity cache subscribe failed'),
    );
  });
  void sub.connect().catch(() => undefined);

  // Yields to the event loop before looking: invalidations that reached this process's socket
  // before the request did are handled first (Redis sends them before it answers the writer).
  const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  return {
    async read(keys) {
      if (!subscribed) return opts.mget([...keys]);
      await yieldTurn();
      const now = Date.now();
      const values: (string | null)[] = new Array(keys.length);
      let missing: number[] | undefined;
      for (let i = 0; i < keys.length; i++) {
        const entry = entries.get(keys[i] as string);
        if (subscribed && entry && now - entry.fetchedAtMs < opts.ttlMs) values[i] = entry.value;
        else (missing ??= []).push(i);
      }
      if (!missing) return values;
      const startedGeneration = generation;
      const fetched = await opts.mget(missing.map((i) => keys[i] as string));
      const storable = subscribed && generation === startedGeneration;
      if (storable && entries.size + missing.length > maxEntries) entries.clear();
      for (let j = 0; j < missing.length; j++) {
        const i = missing[j] as number;
        const value = fetched[j] ?? null;
        values[i] = value;
        // Absent keys are not remembered: a new credential or record is read as soon as it exists.
        if (storable && value !== null) entries.set(keys[i] as string, { value, fetchedAtMs: now });
      }
      return values;
    },
    live: () => subscribed,
    async close() {
      closed = true;
      subscribed = false;
      entries.clear();
      sub.disconnect();
    },
  };
}
