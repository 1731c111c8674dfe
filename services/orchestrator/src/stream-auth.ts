// Re-checks, during a long-lived event stream, the access token that opened it: revoked, expired,
// gone, or its member removed ends the stream. Also when the token will expire, so a read can stop there.
import { keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { Principal } from './auth.ts';
import { loadToken } from './stores/tokens.ts';

export type StreamAuth =
  | { valid: true; expiresAtMs: number | undefined }
  | { valid: false; code: 'token_revoked' | 'token_expired' | 'token_invalid'; message: string };

export async function recheckStreamToken(redis: Redis, p: Principal, nowMs: number): Promise<StreamAuth> {
  const token = await loadToken(redis, p.tokenId);
  if (!token || token.workspace_id !== p.workspaceId) {
    return { valid: false, code: 'token_invalid', message: 'the access token no longer exists' };
  }
  if (token.revoked_at) return { valid: false, code: 'token_revoked', message: 'the access token was revoked' };
  const expiresAtMs = token.expires_at ? Date.parse(token.expires_at) : undefined;
  if (expiresAtMs !== undefined && expiresAtMs <= nowMs) {
    return { valid: false, code: 'token_expired', message: 'the access token expired' };
  }
  const member = await redis.hexists(keys.members(p.workspaceId), p.email.toLowerCase());
  if (member !== 1) return { valid: false, code: 'token_invalid', message: 'the token owner is no longer a member' };
  return { valid: true, expiresAtMs };
}
