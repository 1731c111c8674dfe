// Generates the cluster's service credentials for compose and Kubernetes into a folder (default
// .paddock/compose): secrets.json (0600, the source, kept across runs), secrets.env (0600: one
// variable per Redis password and the guardian's service credential, for `docker compose --env-file`
// or a kustomize secretGenerator `envs:`) and users.acl (the Redis ACL with password hashes only).
//   node scripts/generate-secrets.ts [--out DIR]      delete DIR/secrets.json first to rotate
import { chmodSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { redisAclFile } from '@paddock/contracts';
import { type ClusterSecrets, loadOrCreateSecrets } from './cluster-secrets.ts';

/** The env file's variables: PADDOCK_REDIS_PASSWORD_<USER> and the guardian credential. */
export function secretsEnv(secrets: ClusterSecrets): string {
  const lines = Object.entries(secrets.redis).map(
    ([user, password]) => `PADDOCK_REDIS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}=${password}`,
  );
  lines.push(`PADDOCK_GUARDIAN_SERVICE_TOKEN=${secrets.guardian_service_token}`);
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const dir = resolve(values.out ?? join(import.meta.dirname, '..', '.paddock', 'compose'));
  const { secrets, created } = loadOrCreateSecrets(dir);
  const envPath = join(dir, 'secrets.env');
  writeFileSync(envPath, secretsEnv(secrets), { mode: 0o600 });
  chmodSync(envPath, 0o600);
  // Hashes only; readable by the Redis container's own user.
  const aclPath = join(dir, 'users.acl');
  writeFileSync(aclPath, redisAclFile(secrets.redis), { mode: 0o644 });
  chmodSync(aclPath, 0o644);
  console.error(`[secrets] ${created ? 'generated' : 'kept'} ${join(dir, 'secrets.json')}; wrote ${envPath} and ${aclPath}`);
}
