// The guardian's service credential: one bearer secret, in the environment variable that
// [guardian].service_token_env names, held by the guardian and by its callers (worker, proxy).
// Missing or short is a start-up error: the review API never runs open. Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type ClusterFile, ConfigError, defaultOf, GuardianSection } from '@paddock/config';

export const DEFAULT_SERVICE_TOKEN_ENV = defaultOf(GuardianSection, 'service_token_env');
/** Shortest credential accepted (characters): `npm start` generates 43 (256 bits, base64url). */
export const MIN_SERVICE_TOKEN_CHARS = 32;

/** The name of the environment variable holding the service credential. */
export function serviceTokenEnvOf(file: ClusterFile): string {
  return file.guardian?.service_token_env ?? DEFAULT_SERVICE_TOKEN_ENV;
}

/** The service credential from the environment, or a ConfigError naming the variable. */
export function requireServiceToken(
  cluster: { file: ClusterFile; configPath?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const name = serviceTokenEnvOf(cluster.file);
  const token = env[name];
  if (!token || token.length < MIN_SERVICE_TOKEN_CHARS) {
    throw new ConfigError([
      {
        source: 'environment',
        path: name,
        message: `the guardian's service credential ([guardian].service_token_env) must be set, at least ${MIN_SERVICE_TOKEN_CHARS} characters`,
      },
    ]);
  }
  return token;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when `authorization` is `Bearer <expected>`; constant time in the secret's content. */
export function holdsServiceToken(authorization: string | undefined, expected: string): boolean {
  const presented = /^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? '';
  // Digests have one length, so timingSafeEqual never throws and the length leaks nothing.
  return timingSafeEqual(digest(presented), digest(expected)) && presented.length > 0;
}
