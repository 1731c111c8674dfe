// What a refused sandbox sees: 403, the reason in X-Paddock-Reason, and a short body an agent
// reads as a policy decision (not a network fault) and is told not to work around.
import { REASON_HEADER, type RefusalReason } from '@paddock/contracts';

const WHY: Record<RefusalReason, string> = {
  'unknown-source': 'this connection does not come from a known sandbox',
  'missing-credential': 'the request carries no proxy credential for this command',
  'stale-credential': "the request's proxy credential is unknown, expired or revoked",
  'network-off': 'network access is turned off for this sandbox',
  'blocked-by-allowlist': 'the host is not on the allowed domain list',
  'blocked-by-denylist': 'the host is on the denied domain list',
  'blocked-by-port': 'the port is not an allowed port',
  'blocked-by-method': 'the HTTP method is not allowed (a method limit also refuses CONNECT tunnels)',
  'blocked-private-address': 'the host resolves to a private, loopback, link-local or metadata address',
  'blocked-sni-mismatch': 'the TLS server name does not match the CONNECT target',
  'blocked-ip-literal':
    'an IP address was given instead of a host name, and this sandbox has an allow or deny list (use the name)',
  'blocked-encrypted-client-hello':
    'the TLS ClientHello uses Encrypted Client Hello, which hides the real server name',
  'review-denied': 'a reviewer denied this request',
  'review-timed-out': 'the review of this request did not finish in time (not proof it is unsafe)',
  'review-failed': 'the review of this request could not be done',
  'connection-limit': 'this sandbox has too many open proxy connections; close some first',
  'policy-unavailable': 'the sandbox policy could not be read',
  'audit-unavailable': 'the decision log is not accepting records',
  'bad-request': 'the proxy request is malformed',
  'resolve-failed': 'the host name did not resolve',
  'request-header-timeout': 'the request headers did not arrive in time',
};

export function refusalBody(reason: RefusalReason, target: string, detail?: string): string {
  return (
    `Refused by the Paddock sandbox network policy: ${target}\n` +
    `Reason: ${reason}: ${WHY[reason]}${detail ? ` (${detail})` : ''}.\n` +
    'This is a deliberate policy decision, not a network fault. Do not try to work around it ' +
    '(other proxies, tunnels, IP addresses, DNS tricks); ask the user if the access is needed.\n'
  );
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  429: 'Too Many Requests',
};

/** A complete raw HTTP/1.1 answer (403 unless told) for sockets: CONNECT, over-limit connections, timeouts. */
export function rawRefusal(
  reason: RefusalReason,
  target: string,
  detail?: string,
  status: 400 | 403 | 408 | 429 = 403,
): string {
  const body = refusalBody(reason, target, detail);
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n` +
    `${REASON_HEADER}: ${reason}\r\n` +
    'content-type: text/plain; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}
