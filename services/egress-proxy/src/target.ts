// Parses where a proxied request wants to go: the CONNECT authority or the absolute-form URL.
// Both go through the WHATWG URL parser, so `127.1`, `0x7f.0.0.1` and `2130706433` become
// 127.0.0.1 and names become lower-case ASCII (punycode) before any policy sees them.
import { isIP } from 'node:net';
import { normalizeHost } from './domain-match.ts';

export type Target = {
  /** Lower-case ASCII name without trailing dot, or an IP literal (IPv6 without brackets). */
  host: string;
  port: number;
  isIpLiteral: boolean;
};

function fromUrl(url: URL, defaultPort: number): Target | undefined {
  if (url.username || url.password) return undefined;
  let host = url.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  host = normalizeHost(host);
  if (!host) return undefined;
  const port = url.port ? Number(url.port) : defaultPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port, isIpLiteral: isIP(host) !== 0 };
}

/** `host:port` of a CONNECT request; undefined when malformed (port is required). */
export function parseConnectTarget(authority: string | undefined): Target | undefined {
  if (!authority || !/^[^/?#@\s]+:\d{1,5}$/.test(authority)) return undefined;
  // The URL parser drops a default port (`:80`), so the port is read from the authority itself.
  const port = Number(authority.slice(authority.lastIndexOf(':') + 1));
  try {
    return fromUrl(new URL(`http://${authority}`), port);
  } catch {
    return undefined;
  }
}

/** An absolute-form request target (`http://host[:port]/path`); only plain http is proxied. */
export function parseAbsoluteTarget(
  requestUrl: string | undefined,
): { target: Target; path: string } | undefined {
  if (!requestUrl?.startsWith('http://')) return undefined;
  try {
    const url = new URL(requestUrl);
    const target = fromUrl(url, 80);
    return target ? { target, path: `${url.pathname}${url.search}` } : undefined;
  } catch {
    return undefined;
  }
}
