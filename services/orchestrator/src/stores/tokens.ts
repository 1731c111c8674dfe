// Access tokens: random secrets shown once, stored only as a sha256 hash, checked in constant time.
// A secret reads `pdk.<token id>.<random>`, so the check loads one record by id, never scans.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId, PaddockError } from '@paddock/platform';
import type { AccessTokenView } from '../api/tenancy.ts';
import { keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import { ALL_SCOPES, type Scope } from '../scopes.ts';

/** `scopes` is absent on tokens stored before scopes existed: they may do everything. */
export type TokenRecord = Omit<AccessTokenView, 'scopes'> & {
  workspace_id: string;
  hash: string;
  scopes?: Scope[];
};

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time equality of two secrets of any length (compares their hashes). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export function parseSecret(secret: string): string | undefined {
  const m = /^pdk\.(tok_[A-Za-z0-9_-]{22})\.[A-Za-z0-9_-]{43}$/.exec(secret);
  return m?.[1];
}

// Counts the member's live tokens (unrevoked, unexpired) and stores the new one only under the cap,
// in one script so concurrent creations cannot pass the cap together. ISO times compare as text.
// KEYS: workspace token index, new token key. ARGV: email, now ISO, cap, token id, record JSON, score, token key prefix.
const CREATE_WITHIN_CAP = `
local live = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local raw = redis.call('GET', ARGV[7] .. id)
  if raw then
    local t = cjson.decode(raw)
    if t.member_email == ARGV[1] and t.revoked_at == cjson.null
      and (t.expires_at == cjson.null or t.expires_at > ARGV[2]) then
      live = live + 1
    end
  end
end
if live >= tonumber(ARGV[3]) then return live end
redis.call('SET', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[4])
return -1
`;

/** The member already holds `max` live tokens: nothing was created. */
export class TokenCapReached extends PaddockError {
  constructor(max: number) {
    super(
      'token_limit_reached',
      `a member holds at most ${max} live access tokens ([orchestrator].max_tokens_per_member); revoke one first`,
      { status: 409, details: { max_tokens_per_member: max } },
    );
  }
}

export async function createToken(
  redis: Redis,
  t: {
    workspaceId: string;
    memberEmail: string;
    createdBy: string;
    name: string;
    expiresAt: string | null;
    /** Default: every scope. */
    scopes?: readonly Scope[];
    /** When set, refused with TokenCapReached if the member already holds this many live tokens. */
    maxLiveTokens?: number;
    nowMs?: number;
  },
): Promise<{ record: TokenRecord; secret: string }> {
  const id = newId('tok');
  const secret = `pdk.${id}.${randomBytes(32).toString('base64url')}`;
  const record: TokenRecord = {
    id,
    workspace_id: t.workspaceId,
    name: t.name,
    member_email: t.memberEmail,
    created_by: t.createdBy,
    created_at: new Date().toISOString(),
    expires_at: t.expiresAt,
    revoked_at: null,
    scopes: [...(t.scopes ?? ALL_SCOPES)],
    hash: sha256(secret).toString('hex'),
  };
  if (t.maxLiveTokens !== undefined) {
    const live = (await redis.eval(
      CREATE_WITHIN_CAP,
      2,
      keys.workspaceTokens(t.workspaceId),
      keys.token(id),
      t.memberEmail,
      new Date(t.nowMs ?? Date.now()).toISOString(),
      String(t.maxLiveTokens),
      id,
      JSON.stringify(record),
      String(Date.now()),
      keys.token(''),
    )) as number;
    if (live !== -1) throw new TokenCapReached(t.maxLiveTokens);
    return { record, secret };
  }
  await redis
    .multi()
    .set(keys.token(id), JSON.stringify(record))
    .zadd(keys.workspaceTokens(t.workspaceId), Date.now(), id)
    .exec();
  return { record, secret };
}

export async function loadToken(redis: Redis, id: string): Promise<TokenRecord | undefined> {
  const raw = await redis.get(keys.token(id));
  return raw ? (JSON.parse(raw) as TokenRecord) : undefined;
}

/** The token a secret belongs to, when the secret matches its stored hash (constant time). */
export async function verifySecret(redis: Redis, secret: string): Promise<TokenRecord | undefined> {
  const id = parseSecret(secret);
  if (!id) return undefined;
  const record = await loadToken(redis, id);
  if (!record) return undefined;
  const stored = Buffer.from(record.hash, 'hex');
  const given = sha256(secret);
  return stored.length === given.length && timingSafeEqual(stored, given) ? record : undefined;
}

export async function revokeToken(redis: Redis, record: TokenRecord, at: string): Promise<TokenRecord> {
  if (record.revoked_at) return record;
  const next = { ...record, revoked_at: at };
  await redis.set(keys.token(record.id), JSON.stringify(next));
  return next;
}

/** Every token of one member of the workspace (revoked and expired ones too), oldest first. */
export async function memberTokens(redis: Redis, workspaceId: string, email: string): Promise<TokenRecord[]> {
  const ids = await redis.zrange(keys.workspaceTokens(workspaceId), '0', '-1');
  const recs = await Promise.all(ids.map((id) => loadToken(redis, id)));
  return recs.filter((r): r is TokenRecord => r?.member_email === email);
}

export function tokenView(r: TokenRecord): AccessTokenView {
  return {
    id: r.id,
    name: r.name,
    member_email: r.member_email,
    created_by: r.created_by,
    created_at: r.created_at,
    expires_at: r.expires_at,
    revoked_at: r.revoked_at,
    scopes: [...(r.scopes ?? ALL_SCOPES)],
  };
}

/** Ids of the workspace's tokens from `start` to `stop` (inclusive, oldest first; -1 is the last). */
export const workspaceTokenIds = (redis: Redis, workspaceId: string, start: number, stop: number) =>
  redis.zrange(keys.workspaceTokens(workspaceId), String(start), String(stop));
