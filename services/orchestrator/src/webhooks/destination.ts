// Where a webhook may be delivered. The URL is tenant-supplied, so it is checked twice: at creation
// (scheme, no credentials, https unless the operator allows http, no refused IP literal) and at every
// attempt, where the host is resolved once, every address is classified (only global unicast passes
// unless the operator set allow_private_destinations) and the connection is pinned to that address,
// so a DNS answer that changes between the check and the connect cannot reach an internal service.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { PaddockError } from '@paddock/platform';

export type DestinationPolicy = { allowPrivateDestinations: boolean; allowHttp: boolean };

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');
// IPv6 forms that carry an IPv4 a translator would reach (it may be private): refused, like the proxy does.
const EMBEDDING_V6 = ['64:ff9b::/96', '64:ff9b:1::/48', '2002::/16', '2001::/32'].map((c) => ipaddr.parseCIDR(c));

/** Why an address is refused (its range), or undefined when it is public. */
export function refusedRange(address: string): string | undefined {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(address); // IPv4-mapped IPv6 is judged as its IPv4
  } catch {
    return 'unparseable';
  }
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast' ? undefined : addr.range();
  const v6 = addr as ipaddr.IPv6;
  if (v6.range() !== 'unicast') return v6.range();
  if (!v6.match(GLOBAL_UNICAST_V6)) return 'outside 2000::/3 global unicast';
  if (EMBEDDING_V6.some((net) => v6.match(net))) return 'ipv4-embedding range';
  return undefined;
}

const badUrl = (message: string) => new PaddockError('invalid_request', `url: ${message}`, { status: 400, field: 'url' });

/** Creation-time check; returns the normalised URL text. */
export function checkWebhookUrl(text: string, policy: DestinationPolicy): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badUrl('not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badUrl('must be https');
  if (url.protocol === 'http:' && !policy.allowHttp) throw badUrl('must be https (the operator does not allow http webhooks)');
  if (url.username || url.password) throw badUrl('must not carry credentials');
  if (url.hash) throw badUrl('must not have a fragment');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !policy.allowPrivateDestinations) {
    const range = refusedRange(host);
    if (range) throw badUrl(`${host} is a ${range} address; webhooks reach public addresses only`);
  }
  return url.toString();
}

export class DestinationRefused extends Error {}

/** Resolves the host once and picks the address to pin; refuses when any answer is not allowed. */
export async function resolveDestination(
  hostname: string,
  policy: DestinationPolicy,
): Promise<{ address: string; family: 4 | 6 }> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const answers = isIP(host)
    ? [{ address: host, family: isIP(host) as 4 | 6 }]
    : ((await lookup(host, { all: true, verbatim: true })) as { address: string; family: 4 | 6 }[]);
  if (answers.length === 0) throw new DestinationRefused(`${host} does not resolve`);
  if (!policy.allowPrivateDestinations) {
    // Any refused answer refuses the host: a name that mixes public and internal addresses is hostile.
    for (const a of answers) {
      const range = refusedRange(a.address);
      if (range) throw new DestinationRefused(`${host} resolves to ${a.address} (${range}); refused`);
    }
  }
  return answers[0]!;
}
