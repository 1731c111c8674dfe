// Servers the tests and the benchmark start themselves: a plain HTTP upstream and an HTTPS one
// (self-signed certificate made with openssl), each counting the requests that reached it (`/slow`
// answers late, `/hang` never), and a
// stub guardian whose answer the test switches (approve, deny, hang, 500).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReviewRequest } from '@paddock/contracts';

export type Upstream = {
  port: number;
  /** Requests that reached this server, by Host header name (without port). */
  hits: (host: string) => number;
  total: () => number;
  close: () => Promise<void>;
};

function handler(counts: Map<string, number>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    counts.set(host, (counts.get(host) ?? 0) + 1);
    const reply = () => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'x-upstream-saw-proxy-auth': String(!!req.headers['proxy-authorization']),
      });
      res.end(`hello from ${host} ${req.method} ${req.url}\n`);
    };
    req.resume();
    if (req.url?.startsWith('/hang')) return; // never answers; cut when the server closes
    req.on('end', () => (req.url?.startsWith('/slow') ? setTimeout(reply, 2500) : reply()));
  };
}

const listen = (server: Server, host: string) =>
  new Promise<number>((resolve) =>
    server.listen(0, host, () => resolve((server.address() as { port: number }).port)),
  );

function upstreamOf(server: Server, port: number, counts: Map<string, number>): Upstream {
  return {
    port,
    hits: (host) => counts.get(host) ?? 0,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function startHttpUpstream(host: string): Promise<Upstream> {
  const counts = new Map<string, number>();
  const server = createServer({ keepAliveTimeout: 30_000 }, handler(counts));
  return upstreamOf(server, await listen(server, host), counts);
}

/** An HTTPS upstream whose certificate names `names` (SAN). */
export async function startHttpsUpstream(host: string, names: string[]): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        `/CN=${names[0]}`,
        '-addext',
        `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
      ],
      { stdio: 'ignore' },
    );
    const counts = new Map<string, number>();
    const server = createHttpsServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      handler(counts),
    );
    return upstreamOf(server, await listen(server, host), counts);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type GuardianMode = 'approve' | 'approve-once' | 'deny' | 'hang' | 'error500';

export type StubGuardian = {
  url: string;
  mode: GuardianMode;
  /** Delay before answering approve/deny. */
  delayMs: number;
  requests: ReviewRequest[];
  close: () => Promise<void>;
};

export async function startStubGuardian(): Promise<StubGuardian> {
  const stub: StubGuardian = { url: '', mode: 'deny', delayMs: 0, requests: [], close: async () => {} };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const request = JSON.parse(body) as ReviewRequest;
      stub.requests.push(request);
      if (stub.mode === 'hang') return; // never answers; closed with the server
      if (stub.mode === 'error500') {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"error":{"code":"internal","message":"boom"}}');
        return;
      }
      const verdict = {
        review_id: request.review_id,
        outcome: stub.mode === 'deny' ? 'denied' : 'approved',
        risk_level: 'low',
        user_authorization: 'unknown',
        rationale: stub.mode === 'deny' ? 'stub guardian denies this host' : 'stub guardian approves',
        latency_ms: stub.delayMs,
        ...(stub.mode === 'approve-once' ? { grant_scope: 'once' } : {}),
      };
      setTimeout(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(verdict)),
        stub.delayMs,
      );
    });
  });
  const port = await listen(server, '127.0.0.1');
  stub.url = `http://127.0.0.1:${port}`;
  stub.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return stub;
}
