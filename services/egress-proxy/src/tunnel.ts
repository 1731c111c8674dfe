// A CONNECT tunnel after admission: connect to the checked address, answer 200, then gate the
// sandbox's first bytes: on TLS ports they must be a ClientHello whose SNI is the CONNECT target;
// on other ports a ClientHello, if that is what comes, must match too. A ClientHello carrying
// Encrypted Client Hello is refused (its SNI is a cover name). Upstream bytes flow at once
// (server-first protocols keep working); sandbox bytes flow once the gate opens.
import { connect, type Socket } from 'node:net';
import type { RefusalReason } from '@paddock/contracts';
import { ECH_EXTENSION_TYPE, MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.ts';
import { normalizeHost } from './domain-match.ts';
import type { Target } from './target.ts';

export type TunnelEnd = {
  /** Set when the tunnel was refused after the 200 (SNI), or failed to connect. */
  refusal: { reason: RefusalReason; detail: string } | undefined;
  upstreamError: string | undefined;
  /** 200 when the tunnel was established, 502/504 when the upstream could not be reached. */
  status: number;
  bytesOut: number;
  bytesIn: number;
};

// TLS fatal alert access_denied (49): what a TLS client understands after the 200.
const TLS_ACCESS_DENIED = Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x31]);

export function runTunnel(opts: {
  client: Socket;
  head: Buffer;
  target: Target;
  address: string;
  requireTls: boolean;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  clientHelloTimeoutMs: number;
  onEnd: (end: TunnelEnd) => void;
}): void {
  const { client, target } = opts;
  const end: TunnelEnd = { refusal: undefined, upstreamError: undefined, status: 0, bytesOut: 0, bytesIn: 0 };
  let finished = false;
  const upstream = connect({ host: opts.address, port: target.port, noDelay: true });
  client.setNoDelay(true);

  const finish = () => {
    if (finished) return;
    finished = true;
    // What the upstream socket moved is the tunnel's traffic: counted by the socket, not per chunk.
    end.bytesOut = upstream.bytesWritten;
    end.bytesIn = upstream.bytesRead;
    clearTimeout(connectTimer);
    clearTimeout(helloTimer);
    upstream.destroy();
    // end() lets a queued answer (403/502, TLS alert, upstream's last bytes) reach the sandbox.
    if (!client.destroyed) {
      client.end();
      setTimeout(() => client.destroy(), 1000).unref();
    }
    opts.onEnd(end);
  };
  const refuseTunnel = (reason: RefusalReason, detail: string, sendAlert: boolean) => {
    end.refusal = { reason, detail };
    if (sendAlert && client.writable) client.write(TLS_ACCESS_DENIED);
    finish();
  };

  const connectTimer = setTimeout(() => {
    end.upstreamError = `connect timeout after ${opts.connectTimeoutMs} ms`;
    end.status = 504;
    if (client.writable) client.end(gatewayError(504, 'upstream-timeout', end.upstreamError));
    finish();
  }, opts.connectTimeoutMs);
  let helloTimer: NodeJS.Timeout | undefined;

  upstream.on('error', (err) => {
    if (end.status === 0) {
      end.status = 502;
      end.upstreamError = err.message;
      if (client.writable) client.end(gatewayError(502, 'upstream-unreachable', err.message));
    }
    finish();
  });
  client.on('error', finish);
  client.on('close', finish);
  upstream.on('close', finish);

  upstream.once('connect', () => {
    clearTimeout(connectTimer);
    end.status = 200;
    client.setTimeout(opts.idleTimeoutMs, finish);
    upstream.setTimeout(opts.idleTimeoutMs, finish);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    upstream.pipe(client);

    let pending: Buffer = Buffer.alloc(0);
    const open = () => {
      clearTimeout(helloTimer);
      client.off('data', gate);
      if (pending.length > 0) upstream.write(pending);
      client.pipe(upstream);
    };
    const gate = (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (!opts.requireTls && pending[0] !== 0x16) return open();
      const hello = parseClientHello(pending);
      if (hello.status === 'incomplete') {
        if (pending.length > MAX_CLIENT_HELLO_BYTES)
          refuseTunnel('blocked-sni-mismatch', 'oversized ClientHello', true);
        return;
      }
      client.off('data', gate);
      if (hello.status === 'not-tls') {
        if (!opts.requireTls) return open();
        return refuseTunnel('blocked-sni-mismatch', `port ${target.port} requires TLS`, false);
      }
      // ECH hides the real server name behind a cover SNI: the check below would judge the cover.
      // GREASE ECH (Chrome's default) is indistinguishable from real ECH by design, so it is refused too.
      if (hello.extensionTypes.includes(ECH_EXTENSION_TYPE)) {
        return refuseTunnel(
          'blocked-encrypted-client-hello',
          'the ClientHello carries encrypted_client_hello (0xfe0d)',
          true,
        );
      }
      const sni = hello.serverName === undefined ? undefined : normalizeHost(hello.serverName);
      if (target.isIpLiteral ? sni !== undefined && sni !== target.host : sni !== target.host) {
        return refuseTunnel(
          'blocked-sni-mismatch',
          `TLS names ${sni ?? 'no server'}, CONNECT named ${target.host}`,
          true,
        );
      }
      open();
    };
    if (opts.requireTls) {
      helloTimer = setTimeout(
        () => refuseTunnel('blocked-sni-mismatch', 'no TLS ClientHello in time', false),
        opts.clientHelloTimeoutMs,
      );
    }
    client.on('data', gate);
    if (opts.head.length > 0) gate(opts.head);
  });
}

function gatewayError(status: 502 | 504, reason: string, detail: string): string {
  const body = `The egress proxy could not reach the upstream: ${detail}\n`;
  return (
    `HTTP/1.1 ${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Timeout'}\r\n` +
    `x-paddock-reason: ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}
