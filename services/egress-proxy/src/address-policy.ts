// Which resolved addresses the proxy may connect to: only global unicast, unless an operator
// allowed a range. Loopback, private, link-local (cloud metadata 169.254.169.254), unique-local,
// CGNAT, multicast, reserved and every other special range are refused, IPv4 and IPv6 alike;
// IPv4-mapped IPv6 is judged as the IPv4 address it carries.
import ipaddr from 'ipaddr.js';

export type AddressVerdict = { allowed: true; address: string } | { allowed: false; range: string };

export type AddressPolicy = (address: string) => AddressVerdict;

// IPv6 ranges that embed an IPv4 address (NAT64, 6to4, Teredo): refused, since the embedded
// address may be private and would be reached through a translator.
export function createAddressPolicy(allowedRanges: readonly string[] = []): AddressPolicy {
  const operatorRanges = allowedRanges.map((cidr) => ipaddr.parseCIDR(cidr));
  return (raw) => {
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
    const range = addr.range();
    if (range === 'unicast') return { allowed: true, address };
    return { allowed: false, range };
  };
}
