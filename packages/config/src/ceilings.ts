// The rules behind the requirements that are ceilings on lists: a domain pattern inside another
// (`example.com` exact, `*.example.com` subdomains only, `**.example.com` apex and subdomains; names
// compared label-aligned, as the egress proxy matches them), and a path under an allowed prefix.
import { posix } from 'node:path';

const normalizeDomain = (d: string) => d.toLowerCase().replace(/\.$/, '');

type Parsed = { base: string; apex: boolean; subdomains: boolean };
function parse(pattern: string): Parsed {
  const p = normalizeDomain(pattern);
  if (p.startsWith('**.')) return { base: p.slice(3), apex: true, subdomains: true };
  if (p.startsWith('*.')) return { base: p.slice(2), apex: false, subdomains: true };
  return { base: p, apex: true, subdomains: false };
}

/** `name` equals `base` or is a subdomain of it (label-aligned). */
const atOrUnder = (name: string, base: string) => name === base || name.endsWith(`.${base}`);
const strictlyUnder = (name: string, base: string) => name.endsWith(`.${base}`);

/** True when every host `inner` matches is matched by `outer` too. */
export function domainPatternWithin(inner: string, outer: string): boolean {
  const i = parse(inner);
  const o = parse(outer);
  // The names inner matches: i.base itself (when apex) and every name strictly under i.base (when subdomains).
  const hostOk = (host: string) => (o.apex && host === o.base) || (o.subdomains && strictlyUnder(host, o.base));
  if (i.apex && !hostOk(i.base)) return false;
  if (i.subdomains) {
    // Every strict subdomain of i.base must be matched: o must cover subdomains at or above i.base.
    if (!o.subdomains || !atOrUnder(i.base, o.base)) return false;
  }
  return true;
}

export const domainWithinAny = (pattern: string, ceiling: readonly string[]) =>
  ceiling.some((c) => domainPatternWithin(pattern, c));

/** True when the absolute path `path` is `prefix` or lies under it (by path segment, after normalising). */
export function pathWithin(path: string, prefix: string): boolean {
  if (!path.startsWith('/') || !prefix.startsWith('/')) return false;
  const p = posix.normalize(path).replace(/\/+$/, '') || '/';
  const root = posix.normalize(prefix).replace(/\/+$/, '') || '/';
  return root === '/' || p === root || p.startsWith(`${root}/`);
}

export const pathWithinAny = (path: string, prefixes: readonly string[]) => prefixes.some((r) => pathWithin(path, r));
