// Which repository checkouts the operator allows: a tenant's `repository` names a URL, a ref and at
// most a credential NAME; the URL's host must be on [sandbox_worker] repository_hosts, the credential
// must be the operator's and list that host. Pure: decided from the settings and the worker's env.
import type { RepositorySpec } from '@paddock/contracts';

export type RepositoryCredential = { env_key: string; username?: string | undefined; hosts: string[] };

export type RepositorySettings = {
  /** host or host:port entries the worker may fetch from. */
  hosts: string[];
  credentials: Record<string, RepositoryCredential>;
  checkoutTimeoutMs: number;
  diffMaxBytes: number;
};

export type CheckoutPlan = {
  /** The URL as given (never with a user or password in it). */
  url: string;
  /** host[:port], lower case, as matched against the allowlists. */
  host: string;
  ref: string;
  /** The value of an `Authorization` header, when a credential applies; only on the worker's git process. */
  authorization?: string;
};

/** Branch, tag or commit: git's ref characters only, nothing git would read as an option or a range. */
const REF_PATTERN = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/+-]{1,255}$/;

const hostMatches = (allowed: string[], host: string, defaultPort: string) =>
  allowed.some((entry) => {
    const e = entry.toLowerCase();
    return e === host || (!host.includes(':') && e === `${host}:${defaultPort}`);
  });

export class RepositoryRefused extends Error {
  override name = 'RepositoryRefused';
}

/** The checkout a spec asks for, or a RepositoryRefused saying why (the message names no secret). */
export function planCheckout(
  spec: RepositorySpec,
  settings: RepositorySettings,
  env: NodeJS.ProcessEnv,
): CheckoutPlan {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw new RepositoryRefused('the repository url is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new RepositoryRefused(`the repository url must be https:// or http://, not ${url.protocol}`);
  if (url.username || url.password)
    throw new RepositoryRefused('the repository url must not carry a user or password (name a credential instead)');
  if (url.search || url.hash) throw new RepositoryRefused('the repository url must not have a query or fragment');
  const host = url.host.toLowerCase();
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  if (!hostMatches(settings.hosts, host, defaultPort))
    throw new RepositoryRefused(`${host} is not one of the cluster's repository hosts ([sandbox_worker] repository_hosts)`);
  const ref = spec.ref ?? 'HEAD';
  if (!REF_PATTERN.test(ref)) throw new RepositoryRefused(`the ref ${JSON.stringify(ref)} is not a branch, tag or commit`);
  const plan: CheckoutPlan = { url: url.href, host, ref };
  if (spec.credential !== undefined) {
    // By name in the operator's table: Object.hasOwn so a name like "__proto__" finds nothing.
    const cred = Object.hasOwn(settings.credentials, spec.credential) ? settings.credentials[spec.credential] : undefined;
    if (!cred) throw new RepositoryRefused(`"${spec.credential}" is not one of the cluster's repository credentials`);
    if (!hostMatches(cred.hosts, host, defaultPort))
      throw new RepositoryRefused(`the credential "${spec.credential}" may not be sent to ${host}`);
    const token = env[cred.env_key];
    if (!token) throw new RepositoryRefused(`the credential "${spec.credential}" is not configured on this worker`);
    const basic = Buffer.from(`${cred.username ?? 'x-access-token'}:${token}`).toString('base64');
    plan.authorization = `Basic ${basic}`;
  }
  return plan;
}
