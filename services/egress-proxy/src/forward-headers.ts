// Header hygiene between the sandbox and an upstream: hop-by-hop headers (RFC 9110 §7.6.1), the
// ones a Connection header names, and the proxy credential never travel on.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function forwardHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = headers.connection
    ? new Set(
        headers.connection
          .toLowerCase()
          .split(',')
          .map((s) => s.trim()),
      )
    : undefined;
  for (const key in headers) {
    if (HOP_BY_HOP.has(key) || named?.has(key)) continue;
    out[key] = headers[key];
  }
  return out;
}
