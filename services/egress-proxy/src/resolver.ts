// Name resolution for the proxy (sandboxes have no resolver of their own): a static hosts map
// first (operators' split horizon; tests' names such as allowed.test), then the system resolver
// unless disabled. Every address returned is checked by the address policy before use.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { normalizeHost } from './domain-match.ts';

export type Lookup = (host: string) => Promise<string[]>;

export class ResolveError extends Error {
  readonly host: string;
  constructor(host: string, message: string) {
    super(message);
    this.name = 'ResolveError';
    this.host = host;
  }
}

export function createResolver(opts: { hosts?: Record<string, string[]>; useDns?: boolean } = {}): Lookup {
  const hosts = new Map(Object.entries(opts.hosts ?? {}).map(([k, v]) => [normalizeHost(k), v]));
  const useDns = opts.useDns ?? true;
  return async (host) => {
    if (isIP(host)) return [host];
    const mapped = hosts.get(host);
    if (mapped) return mapped;
    if (!useDns) throw new ResolveError(host, `${host} is not in the proxy's hosts map`);
    try {
      const found = await dnsLookup(host, { all: true, verbatim: true });
      if (found.length === 0) throw new ResolveError(host, `${host} has no address`);
      return found.map((a) => a.address);
    } catch (err) {
      if (err instanceof ResolveError) throw err;
      throw new ResolveError(
        host,
        `${host} did not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  };
}
