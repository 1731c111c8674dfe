// Who is asking: the sandbox that owns the connection's source address on the listener's network
// (unforgeable: sandboxes cannot change their address), and the exec that holds the credential in
// Proxy-Authorization. Read through the in-process identity cache (identity-cache.ts): no Redis
// round trip on a hit, and a change or revocation published by its writer applies to the next request.
import { createHash } from 'node:crypto';
import { egressKeys, ExecCredential, SandboxEgressRecord } from '@paddock/contracts';
import type { RefusalReason } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import Value from 'typebox/value';
import type { Logger } from '@paddock/platform';
import { compileDomains, type DomainMatcher } from './domain-match.ts';
import { createIdentityCache } from './identity-cache.ts';
import { type CompiledPolicy, compilePolicy } from './network-policy.ts';

export type Identity = {
  record: SandboxEgressRecord;
  policy: CompiledPolicy;
  credential: ExecCredential;
  execAllowed: DomainMatcher | undefined;
};

export type IdentityResult =
  | { ok: true; identity: Identity }
  | { ok: false; reason: RefusalReason; record?: SandboxEgressRecord; detail: string };

type Parsed = { record: SandboxEgressRecord; policy: CompiledPolicy };
type ParsedCredential = { credential: ExecCredential; execAllowed: DomainMatcher | undefined };

/** Parses `Basic base64(sandbox_id:token)`; undefined when absent or malformed. */
export function parseProxyAuthorization(
  header: string | undefined,
): { sandboxId: string; token: string } | undefined {
  if (!header || header.length > 1024) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { sandboxId: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}

type PendingRead = {
  keys: string[];
  resolve: (values: (string | null)[]) => void;
  reject: (err: unknown) => void;
};

/**
 * MGET, with the reads of all requests that arrived in one event-loop turn sent to Redis as one
 * pipeline: one write and one reply read for the lot instead of one each (ioredis' auto-pipelining
 * flushes on process.nextTick, i.e. after every socket's callback, so it batches nothing here).
 * Every request still reads its own keys from Redis, now; an error fails each read it touched.
 */
export function createBatchedMget(redis: Redis): (keys: string[]) => Promise<(string | null)[]> {
  let pending: PendingRead[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    const pipeline = redis.pipeline();
    for (const read of batch) pipeline.mget(read.keys);
    pipeline.exec().then(
      (results) => {
        for (let i = 0; i < batch.length; i++) {
          const read = batch[i] as PendingRead;
          const result = results?.[i];
          if (!result) read.reject(new Error('pipeline aborted'));
          else if (result[0]) read.reject(result[0]);
          else read.resolve(result[1] as (string | null)[]);
        }
      },
      (err: unknown) => {
        for (const read of batch) read.reject(err);
      },
    );
  };
  return (keys) =>
    new Promise((resolve, reject) => {
      if (pending.push({ keys, resolve, reject }) === 1) setImmediate(flush);
    });
}

/** JSON text → its checked, compiled form (undefined when invalid), remembered by the text (bounded). */
function parsedByText<T>(maxEntries: number, check: (value: unknown) => T | undefined): (raw: string) => T | undefined {
  const cache = new Map<string, T | undefined>();
  return (raw) => {
    if (cache.has(raw)) return cache.get(raw);
    let parsed: T | undefined;
    try {
      parsed = check(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (cache.size >= maxEntries) cache.clear();
    cache.set(raw, parsed);
    return parsed;
  };
}

/** A parsed Proxy-Authorization header with its token's sha256, remembered by the header (bounded):
 * a keep-alive client sends the same header on every request. */
function claimsByHeader(maxEntries: number) {
  const cache = new Map<string, { sandboxId: string; tokenHash: string } | undefined>();
  return (header: string | undefined) => {
    if (header === undefined) return undefined;
    const hit = cache.get(header);
    if (hit !== undefined || cache.has(header)) return hit;
    const claimed = parseProxyAuthorization(header);
    const value = claimed
      ? { sandboxId: claimed.sandboxId, tokenHash: createHash('sha256').update(claimed.token).digest('hex') }
      : undefined;
    if (cache.size >= maxEntries) cache.clear();
    cache.set(header, value);
    return value;
  };
}

export function createIdentityReader(
  redis: Redis,
  opts: { cacheEntries?: number; cacheTtlMs?: number; logger?: Logger } = {},
) {
  const mget = createBatchedMget(redis);
  // Records and credentials come from the identity cache: invalidated by their writers' messages
  // and expired after cacheTtlMs as a safety net; expiry is checked against the clock each time.
  // Their parse, schema check and compilation are cached too, keyed by the exact JSON text.
  const maxEntries = opts.cacheEntries ?? 10_000;
  const cache = createIdentityCache({
    redis,
    mget,
    ttlMs: opts.cacheTtlMs ?? 5_000,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const claimsOf = claimsByHeader(maxEntries);
  const parseRecord = parsedByText(maxEntries, (value): Parsed | undefined =>
    Value.Check(SandboxEgressRecord, value) ? { record: value, policy: compilePolicy(value.policy) } : undefined,
  );
  const parseCredential = parsedByText(maxEntries, (value): ParsedCredential | undefined =>
    Value.Check(ExecCredential, value)
      ? {
          credential: value,
          execAllowed: value.extra_allowed_domains?.length ? compileDomains(value.extra_allowed_domains) : undefined,
        }
      : undefined,
  );

  const identify = async function identify(
    network: string,
    sourceAddress: string,
    authorization: string | undefined,
  ): Promise<IdentityResult> {
    const claimed = claimsOf(authorization);
    if (!claimed) {
      const owner = await redis.get(egressKeys.source(network, sourceAddress));
      return owner
        ? { ok: false, reason: 'missing-credential', detail: 'no Proxy-Authorization: Basic credential' }
        : { ok: false, reason: 'unknown-source', detail: `${sourceAddress} on ${network}` };
    }
    const [owner, rawRecord, rawCredential] = await cache.read([
      egressKeys.source(network, sourceAddress),
      egressKeys.sandbox(claimed.sandboxId),
      egressKeys.execCredential(claimed.sandboxId, claimed.tokenHash),
    ]);
    if (!owner) return { ok: false, reason: 'unknown-source', detail: `${sourceAddress} on ${network}` };
    if (owner !== claimed.sandboxId) {
      return { ok: false, reason: 'stale-credential', detail: 'the credential belongs to another sandbox' };
    }
    const parsed = rawRecord ? parseRecord(rawRecord) : undefined;
    if (!parsed)
      return { ok: false, reason: 'policy-unavailable', detail: 'no valid egress record for the sandbox' };
    const parsedCredential = rawCredential ? parseCredential(rawCredential) : undefined;
    const credential = parsedCredential?.credential;
    if (
      !credential ||
      credential.sandbox_id !== claimed.sandboxId ||
      credential.expires_at_ms <= Date.now()
    ) {
      return {
        ok: false,
        reason: 'stale-credential',
        record: parsed.record,
        detail: 'unknown, expired or revoked',
      };
    }
    return {
      ok: true,
      identity: {
        record: parsed.record,
        policy: parsed.policy,
        credential,
        execAllowed: parsedCredential.execAllowed,
      },
    };
  };
  return Object.assign(identify, { cacheLive: cache.live, close: cache.close });
}

export type IdentityReader = ReturnType<typeof createIdentityReader>;
