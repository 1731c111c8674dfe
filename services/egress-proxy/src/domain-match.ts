// Domain patterns of the network policy: `example.com` exact, `*.example.com` subdomains only,
// `**.example.com` apex and subdomains. A `*` never crosses into a suffix match of another name
// (`*.example.com` does not match `badexample.com`): names are compared label-aligned.

export type DomainMatcher = (host: string) => boolean;

/** Lower-case, no trailing dot: the form both patterns and hosts are compared in. */
export const normalizeHost = (host: string) => host.toLowerCase().replace(/\.$/, '');

export function compileDomains(patterns: readonly string[]): DomainMatcher {
  const exact = new Set<string>();
  const subdomainsOf: string[] = [];
  for (const raw of patterns) {
    const p = normalizeHost(raw);
    if (p.startsWith('**.')) {
      exact.add(p.slice(3));
      subdomainsOf.push(`.${p.slice(3)}`);
    } else if (p.startsWith('*.')) {
      subdomainsOf.push(`.${p.slice(2)}`);
    } else {
      exact.add(p);
    }
  }
  if (subdomainsOf.length === 0) return (host) => exact.has(host);
  return (host) => {
    if (exact.has(host)) return true;
    for (const suffix of subdomainsOf) {
      if (host.length > suffix.length && host.endsWith(suffix)) return true;
    }
    return false;
  };
}
