// The secrets `npm start` generates on first run and keeps in its data folder (0600, owner only):
// one Redis password per service user and the guardian's service credential. Delete the file and
// restart to rotate them all.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateRedisPasswords, REDIS_ADMIN_USER, REDIS_SERVICE_USERS, type RedisPasswords } from '@paddock/contracts';

export type ClusterSecrets = { redis: RedisPasswords; guardian_service_token: string };

export const SECRETS_FILE = 'secrets.json';

function isComplete(s: Partial<ClusterSecrets>): s is ClusterSecrets {
  const users: (keyof RedisPasswords)[] = [...REDIS_SERVICE_USERS, REDIS_ADMIN_USER];
  return (
    typeof s.guardian_service_token === 'string' &&
    s.guardian_service_token.length >= 32 &&
    users.every((u) => typeof s.redis?.[u] === 'string' && s.redis[u].length >= 32)
  );
}

/** Reads `dir/secrets.json`, or generates it (0600) when absent or incomplete. */
export function loadOrCreateSecrets(dir: string): { secrets: ClusterSecrets; path: string; created: boolean } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, SECRETS_FILE);
  if (existsSync(path)) {
    // Narrow the mode first: a copy restored with wider permissions is not left readable.
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    const found = JSON.parse(readFileSync(path, 'utf8')) as Partial<ClusterSecrets>;
    if (isComplete(found)) return { secrets: found, path, created: false };
  }
  const secrets: ClusterSecrets = {
    redis: generateRedisPasswords(),
    guardian_service_token: randomBytes(32).toString('base64url'),
  };
  writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { secrets, path, created: true };
}
