// Identifiers: a readable prefix and 128 bits of randomness, safe in URLs and Redis keys.
import { randomBytes } from 'node:crypto';

export type IdPrefix =
  | 'ws'
  | 'usr'
  | 'tok'
  | 'env'
  | 'thr'
  | 'turn'
  | 'item'
  | 'apr'
  | 'den'
  | 'rev'
  | 'sbx'
  | 'cmd'
  | 'wrk'
  | 'wh';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

export function hasPrefix(id: string, prefix: IdPrefix): boolean {
  return id.startsWith(`${prefix}_`) && id.length > prefix.length + 1;
}
