// Writes of the egress state, for the sandbox worker (and tests): the sandbox's record and source
// mapping, exec credentials, thread grants. The proxy only reads these (and writes grants); every
// change or removal of a record, mapping or credential publishes its keys on egressKeys.changed in
// the same MULTI, so the proxy's cached copy is dropped before its next request.
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import Value from 'typebox/value';
import { badRequest } from '@paddock/platform';
import type { TraceCarrier } from '@paddock/platform';
import { egressKeys, ExecCredential, SandboxEgressRecord, type TranscriptItem } from '@paddock/contracts';

export const tokenSha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** Creates or replaces a sandbox's record; the proxy applies it from its next request on. */
export async function putSandboxEgress(redis: Redis, record: SandboxEgressRecord): Promise<void> {
  const withDefaults = Value.Default(SandboxEgressRecord, structuredClone(record));
  if (!Value.Check(SandboxEgressRecord, withDefaults)) {
    const first = [...Value.Errors(SandboxEgressRecord, withDefaults)][0];
    throw badRequest(`invalid egress record: ${first?.message ?? 'schema'}`, first?.instancePath);
  }
  const value = { ...(withDefaults as SandboxEgressRecord), updated_at_ms: Date.now() };
  const recordKey = egressKeys.sandbox(record.sandbox_id);
  const sourceKey = egressKeys.source(record.network, record.address);
  await redis
    .multi()
    .set(recordKey, JSON.stringify(value))
    .set(sourceKey, record.sandbox_id)
    .publish(egressKeys.changed, `${recordKey}\n${sourceKey}`)
    .exec();
}

/** Removes a sandbox's record and source mapping (its credentials expire or are revoked). */
export async function removeSandboxEgress(
  redis: Redis,
  record: Pick<SandboxEgressRecord, 'sandbox_id' | 'network' | 'address'>,
): Promise<void> {
  const recordKey = egressKeys.sandbox(record.sandbox_id);
  const sourceKey = egressKeys.source(record.network, record.address);
  await redis
    .multi()
    .del(recordKey)
    .del(sourceKey)
    .publish(egressKeys.changed, `${recordKey}\n${sourceKey}`)
    .exec();
}

export type IssuedCredential = {
  token: string;
  credential: ExecCredential;
  /** `http://<sandbox_id>:<token>@<host>:<port>`: the exec's HTTP_PROXY / HTTPS_PROXY. */
  proxyUrl: (host: string, port: number) => string;
};

/** A fresh credential for one exec, valid for `ttlMs` or until revoked. */
export async function issueExecCredential(
  redis: Redis,
  opts: {
    sandboxId: string;
    execId: string;
    turnId?: string;
    ttlMs: number;
    extraAllowedDomains?: string[];
    trace?: TraceCarrier;
    /** What a network review of this exec is shown: the command and the turn's transcript. */
    review?: { command: string[]; transcript: TranscriptItem[] };
  },
): Promise<IssuedCredential> {
  const token = randomBytes(24).toString('base64url');
  const credential: ExecCredential = {
    sandbox_id: opts.sandboxId,
    exec_id: opts.execId,
    expires_at_ms: Date.now() + opts.ttlMs,
    ...(opts.turnId ? { turn_id: opts.turnId } : {}),
    ...(opts.extraAllowedDomains ? { extra_allowed_domains: opts.extraAllowedDomains } : {}),
    ...(opts.trace ? { trace: opts.trace } : {}),
    ...(opts.review
      ? {
          command: opts.review.command.slice(0, 1000),
          // Bounded like the worker's own review requests: the last items, each cut to 2000 characters.
          transcript: opts.review.transcript.slice(-50).map((i) => ({ role: i.role, content: i.content.slice(0, 2000) })),
        }
      : {}),
  };
  if (!Value.Check(ExecCredential, credential))
    throw badRequest('invalid exec credential', 'extraAllowedDomains');
  await redis.set(
    egressKeys.execCredential(opts.sandboxId, tokenSha256(token)),
    JSON.stringify(credential),
    'PX',
    Math.max(1, opts.ttlMs),
  );
  return {
    token,
    credential,
    proxyUrl: (host, port) => `http://${encodeURIComponent(opts.sandboxId)}:${token}@${host}:${port}`,
  };
}

/** Ends a credential at once (the exec finished). */
export async function revokeExecCredential(redis: Redis, sandboxId: string, token: string): Promise<void> {
  const key = egressKeys.execCredential(sandboxId, tokenSha256(token));
  await redis.multi().del(key).publish(egressKeys.changed, key).exec();
}
