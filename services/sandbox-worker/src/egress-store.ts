// Writes of the egress state, for the sandbox worker (and tests): the sandbox's record and source
// mapping, exec credentials, thread grants. The proxy only reads these (and writes grants).
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
  await redis
    .multi()
    .set(egressKeys.sandbox(record.sandbox_id), JSON.stringify(value))
    .set(egressKeys.source(record.network, record.address), record.sandbox_id)
    .exec();
}

/** Removes a sandbox's record and source mapping (its credentials expire or are revoked). */
export async function removeSandboxEgress(
  redis: Redis,
  record: Pick<SandboxEgressRecord, 'sandbox_id' | 'network' | 'address'>,
): Promise<void> {
  await redis
    .multi()
    .del(egressKeys.sandbox(record.sandbox_id))
    .del(egressKeys.source(record.network, record.address))
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
  await redis.del(egressKeys.execCredential(sandboxId, tokenSha256(token)));
}
