// Which resolved addresses the proxy may connect to: only global unicast, unless an operator
// allowed a range. IPv4: loopback, private, link-local (cloud metadata 169.254.169.254), CGNAT,
// multicast, reserved and every other special range are refused. IPv6: only 2000::/3 global
// unicast outside the special ranges passes; IPv4-mapped IPv6 is judged as the IPv4 it carries,
// and every other form embedding an IPv4 (IPv4-compatible ::/96, NAT64, 6to4, Teredo) is refused,
// naming the embedded address and its class.
import ipaddr from 'ipaddr.js';

export type AddressVerdict = { allowed: true; address: string } | { allowed: false; range: string };

export type AddressPolicy = (address: string) => AddressVerdict;

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

const cidr = (text: string): Cidr => ipaddr.parseCIDR(text);
const GLOBAL_UNICAST_V6 = cidr('2000::/3');

/**
 * IPv6 ranges that carry an IPv4 address a translator or tunnel would reach: always refused (the
 * embedded address may be private, and the proxy cannot know the translator's reach). `v4At`
 * gives the byte offset of the embedded IPv4 where it is fixed by the range's definition.
 */
const EMBEDDING_RANGES: { name: string; net: Cidr; v4At?: number; xor?: boolean }[] = [
  { name: 'ipv4-compatible ::/96 (deprecated)', net: cidr('::/96'), v4At: 12 },
  { name: 'ipv4-translated ::ffff:0:0:0/96', net: cidr('::ffff:0:0:0/96'), v4At: 12 },
  { name: 'nat64 well-known 64:ff9b::/96', net: cidr('64:ff9b::/96'), v4At: 12 },
  { name: 'nat64 local-use 64:ff9b:1::/48', net: cidr('64:ff9b:1::/48') },
  { name: '6to4 2002::/16', net: cidr('2002::/16'), v4At: 2 },
  // Teredo: the server's IPv4 at bytes 4-7, the client's (bit-inverted) at bytes 12-15.
  { name: 'teredo 2001::/32', net: cidr('2001::/32'), v4At: 12, xor: true },
];

function embeddedV4(addr: ipaddr.IPv6, at: number, xor: boolean): ipaddr.IPv4 {
  const bytes = addr.toByteArray().slice(at, at + 4);
  return new ipaddr.IPv4(xor ? bytes.map((b) => b ^ 0xff) : bytes);
}

/** The class of an IPv6 address outside plain global unicast; undefined when it is global unicast. */
function ipv6Refusal(addr: ipaddr.IPv6): string | undefined {
  const range = addr.range();
  // :: and ::1 sit inside ::/96 but are named for what they are.
  if (range === 'unspecified' || addr.toNormalizedString() === '0:0:0:0:0:0:0:1') return range;
  for (const r of EMBEDDING_RANGES) {
    if (!addr.match(r.net)) continue;
    if (r.v4At === undefined) return `${r.name}, translator-defined embedding`;
    const v4 = embeddedV4(addr, r.v4At, r.xor ?? false);
    return `${r.name} embedding ${v4.toString()} (${v4.range()})`;
  }
  if (range !== 'unicast') return range;
  // ipaddr.js calls everything it has no name for "unicast" (fec0::/10 site-local in older
  // versions, unassigned space); only 2000::/3 is global unicast.
  if (!addr.match(GLOBAL_UNICAST_V6)) return 'outside 2000::/3 global unicast';
  return undefined;
}

/** Verdicts remembered per address text (a verdict depends on nothing else); cleared when full. */
const VERDICT_MEMO_MAX = 4096;

export function createAddressPolicy(allowedRanges: readonly string[] = []): AddressPolicy {
  const operatorRanges = allowedRanges.map(cidr);
  // Most requests go to a handful of addresses: parsing and classifying each one every time was
  // ≈ 2 % of the proxy's CPU under bench:proxy.
  const memo = new Map<string, AddressVerdict>();
  return (raw) => {
    const known = memo.get(raw);
    if (known) return known;
    const verdict = judge(raw);
    if (memo.size >= VERDICT_MEMO_MAX) memo.clear();
    memo.set(raw, Object.freeze(verdict));
    return verdict;
  };

  function judge(raw: string): AddressVerdict {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(raw); // IPv4-mapped IPv6 -> IPv4
    } catch {
      return { allowed: false, range: 'unparseable' };
    }
    const address = addr.toString();
    for (const [net, bits] of operatorRanges) {
      if (net.kind() === addr.kind() && addr.match(net, bits)) return { allowed: true, address };
    }
    if (addr.kind() === 'ipv6') {
      const range = ipv6Refusal(addr as ipaddr.IPv6);
      return range === undefined ? { allowed: true, address } : { allowed: false, range };
    }
    const range = addr.range();
    if (range === 'unicast') return { allowed: true, address };
    return { allowed: false, range };
  }
}
