// The egress proxy: one HTTP parser fed by a listener per sandbox network (the listener says which
// network a connection came in on; its source address says which sandbox). Plain absolute-form
// requests are forwarded to the checked address with the Host header set to the target; CONNECT
// becomes a gated tunnel. A connection over the sandbox's cap is answered 429 and closed at accept;
// request heads and upstream answers have time budgets. Every request ends in one decision record.
import {
  Agent,
  createServer,
  type IncomingMessage,
  request as httpRequest,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { metrics } from '@opentelemetry/api';
import { type Logger, onFirstUse, serveMetrics } from '@paddock/platform';
import type { DecisionRecord, GuardianClient } from '@paddock/contracts';
import { REASON_HEADER, type RefusalReason } from '@paddock/contracts';
import { defaultOf, EgressProxySection, SandboxWorkerSection, withDefaults } from '@paddock/config';
import type { Redis } from 'ioredis';
import { type Admission, createAdmission } from './admission.ts';
import { createAddressPolicy } from './address-policy.ts';
import { createAuditLog } from './audit-log.ts';
import { createEscalator } from './escalation.ts';
import { forwardHeaders } from './forward-headers.ts';
import { createIdentityReader } from './identity.ts';
import { rawRefusal, refusalBody } from './refusal.ts';
import { OPERATOR_NETWORK, proxyOptions } from './settings.ts';
import type { Lookup } from './resolver.ts';
import { parseAbsoluteTarget, parseConnectTarget, type Target } from './target.ts';
import { runTunnel } from './tunnel.ts';

export type ProxyOptions = {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** A connection must deliver a complete request head this long after opening or after its previous response. */
  requestHeaderTimeoutMs: number;
  /** From sending a plain request upstream to the upstream's response head; then 504. */
  upstreamResponseTimeoutMs: number;
  clientHelloTimeoutMs: number;
  reviewDeadlineMs: number;
  /** How long a blocked request held for a person (`approvals_reviewer = "user"`) waits for a decision. */
  approvalTimeoutMs: number;
  threadGrantTtlMs: number;
  maxConnectionsPerSandbox: number;
  tlsPorts: readonly number[];
  allowedPrivateRanges: readonly string[];
  auditMaxPending: number;
};

/** Options when a caller gives none: the schema's defaults (tests and benchmarks start proxies bare). */
export const DEFAULT_PROXY_OPTIONS: ProxyOptions = proxyOptions(
  withDefaults(EgressProxySection, undefined),
  defaultOf(SandboxWorkerSection, 'approval_timeout_ms'),
);

export type Listener = { network: string; host: string; port: number };

export type EgressProxy = {
  /** Starts a listener for one network; resolves with the bound port. */
  listen(listener: Listener): Promise<number>;
  /** Stops the listeners of one network (it was removed); open connections end by themselves. */
  unlisten(network: string): Promise<void>;
  /** Writes buffered decision records now (tests, shutdown). */
  flushAudit(): Promise<void>;
  /**
   * Stops accepting at once; with `drainMs`, open tunnels and requests in flight may run that long
   * (idle keep-alive connections close now, busy ones as soon as they are idle); then what is left is cut.
   */
  close(drainMs?: number): Promise<void>;
  /** Connections open now (tests and the shutdown log). */
  openConnections(): number;
  /** True while the identity cache receives invalidations (before that, every request reads Redis). */
  identityCacheLive(): boolean;
};

type SocketInfo = {
  network: string;
  source: string;
  limitKey: string;
  overLimit: boolean;
  /** Requests parsed on this connection whose response has not finished. */
  inFlight: number;
  /** The connection's request-head budget (request_header_timeout_ms): restarted when it owes a head. */
  headerTimer: NodeJS.Timeout | undefined;
  /** Responses finished on this connection (a keep-alive one waiting for its next request). */
  served: number;
};

// Decisions are tallied in a plain map and read by the metric reader when it collects: a counter's
// add() per request hashed its attributes on the hot path.
const decisionTally = new Map<string, { n: number; attributes: { decision: string; reason: string; kind: string } }>();
const decisions = onFirstUse(() =>
  metrics
    .getMeter('paddock.egress-proxy')
    .createObservableCounter('egress.decisions', {
      description: 'Proxied requests and tunnels by decision (allow, deny), reason and kind (http, connect)',
    })
    .addCallback((result) => {
      for (const { n, attributes } of decisionTally.values()) result.observe(n, attributes);
    }),
);

function countDecision(decision: string, reason: string, kind: string): void {
  const key = `${decision}|${reason}|${kind}`;
  const entry = decisionTally.get(key);
  if (entry) entry.n++;
  else {
    decisions();
    decisionTally.set(key, { n: 1, attributes: { decision, reason, kind } });
  }
}

export function createEgressProxy(deps: {
  redis: Redis;
  guardian: GuardianClient;
  lookup: Lookup;
  logger: Logger;
  options?: Partial<ProxyOptions>;
}): EgressProxy {
  const options: ProxyOptions = { ...DEFAULT_PROXY_OPTIONS, ...deps.options };
  const { logger } = deps;
  const shutdown = new AbortController();
  const audit = createAuditLog({ redis: deps.redis, logger, maxPending: options.auditMaxPending });
  const identify = createIdentityReader(deps.redis, { logger });
  const admit = createAdmission({
    identify,
    addressPolicy: createAddressPolicy(options.allowedPrivateRanges),
    lookup: deps.lookup,
    escalator: createEscalator({
      redis: deps.redis,
      guardian: deps.guardian,
      reviewDeadlineMs: options.reviewDeadlineMs,
      approvalTimeoutMs: options.approvalTimeoutMs,
      threadGrantTtlMs: options.threadGrantTtlMs,
    }),
    auditAccepting: audit.accepting,
    shutdownSignal: shutdown.signal,
  });
  const tlsPorts = new Set(options.tlsPorts);
  // Upstream keep-alive pool, keyed by the checked address (never by name).
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 1024, scheduling: 'lifo', timeout: options.idleTimeoutMs });
  const socketInfo = new WeakMap<Socket, SocketInfo>();
  /** Upstream sockets (pooled, reused across requests) whose idle timeout is set: once per socket. */
  const upstreamTimed = new WeakSet<Socket>();
  const openBySource = new Map<string, number>();
  const openSockets = new Set<Socket>();
  const listeners: { network: string; server: NetServer }[] = [];

  // Node's own headersTimeout needs a listening server; connections come from our listeners, so
  // the head budget is the per-connection timer below.
  const httpServer = createServer(
    { keepAliveTimeout: options.idleTimeoutMs, headersTimeout: 0, requestTimeout: 0 },
    (req, res) => void onRequest(req, res),
  );
  httpServer.on(
    'connect',
    (req: IncomingMessage, socket: Socket, head: Buffer) => void onConnect(req, socket, head),
  );
  httpServer.on('clientError', (_err, socket: Socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  const infoOf = (socket: Socket): SocketInfo =>
    socketInfo.get(socket) ?? {
      network: '',
      source: '',
      limitKey: '',
      overLimit: true,
      inFlight: 0,
      headerTimer: undefined,
      served: 0,
    };

  /**
   * The connection owes a request head: it gets request_header_timeout_ms, then 408 and close. One
   * timer per connection, restarted after each response (`refresh`, no new timer per request); it
   * does nothing when it fires while a request is being served.
   */
  function armHeaderTimer(socket: Socket, info: SocketInfo): void {
    if (info.headerTimer) {
      info.headerTimer.refresh();
      return;
    }
    info.headerTimer = setTimeout(() => {
      if (info.inFlight > 0 || socket.destroyed) return;
      // An idle keep-alive connection is closed quietly, as an HTTP server does: a 408 there could
      // be read as the answer to a request the client is sending at that moment.
      if (info.served > 0) {
        endRaw(socket, '');
        return;
      }
      const detail = `no complete request head within ${options.requestHeaderTimeoutMs} ms`;
      endRaw(socket, rawRefusal('request-header-timeout', 'connection', detail, 408));
      record(info, undefined, '', 'http', undefined, {
        status: 408,
        bytesOut: 0,
        bytesIn: 0,
        startedAt: Date.now() - options.requestHeaderTimeoutMs,
        refusal: 'request-header-timeout',
      });
    }, options.requestHeaderTimeoutMs);
  }

  /** A request head arrived on the connection: its budget stops until the response is done. */
  function requestStarted(_socket: Socket, info: SocketInfo): void {
    info.inFlight++;
  }

  function requestDone(socket: Socket, info: SocketInfo): void {
    info.inFlight = Math.max(0, info.inFlight - 1);
    info.served++;
    if (info.inFlight === 0 && !socket.destroyed) armHeaderTimer(socket, info);
  }

  function record(
    info: SocketInfo,
    target: Target | undefined,
    method: string,
    kind: DecisionRecord['kind'],
    admission: Admission | undefined,
    fields: { status: number; bytesOut: number; bytesIn: number; startedAt: number; refusal?: RefusalReason },
  ): void {
    const who = admission?.ok ? admission.identity.record : admission?.record;
    const reason = fields.refusal ?? admission?.reason ?? 'bad-request';
    const decision = admission?.ok && !fields.refusal ? 'allow' : 'deny';
    countDecision(decision, reason, kind);
    audit.record({
      at_ms: Date.now(),
      sandbox_id: who?.sandbox_id ?? '',
      tenant: who?.tenant ?? '',
      thread_id: who?.thread_id ?? '',
      exec_id: admission?.ok ? admission.identity.credential.exec_id : (admission?.execId ?? ''),
      source: info.source,
      host: target?.host ?? '',
      port: target?.port ?? 0,
      method,
      kind,
      decision,
      reason,
      address: admission?.ok ? admission.address : '',
      bytes_out: fields.bytesOut,
      bytes_in: fields.bytesIn,
      duration_ms: Date.now() - fields.startedAt,
      review_id: admission?.reviewId ?? '',
      status: fields.status,
    });
  }

  function refuse(
    res: ServerResponse,
    status: number,
    reason: RefusalReason,
    target: string,
    detail?: string,
  ) {
    const body = refusalBody(reason, target, detail);
    res
      .writeHead(status, {
        [REASON_HEADER]: reason,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      })
      .end(body);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const info = infoOf(req.socket);
    // Answered already (request head timeout) while the rest of the head was still coming.
    if (!req.socket.writable) {
      req.socket.destroy();
      return;
    }
    requestStarted(req.socket, info);
    res.once('close', () => requestDone(req.socket, info));
    if (req.url === '/healthz' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    // Metrics only on the operator listener: a sandbox network's listener treats it as any bad request.
    if (req.url === '/metrics' && req.method === 'GET' && info.network === OPERATOR_NETWORK) {
      serveMetrics(req, res);
      return;
    }
    const method = req.method ?? 'GET';
    const parsed = parseAbsoluteTarget(req.url);
    if (!parsed) {
      req.resume();
      refuse(
        res,
        400,
        'bad-request',
        String(req.url).slice(0, 200),
        'expected an absolute http:// URL or CONNECT',
      );
      record(info, undefined, method, 'http', undefined, { status: 400, bytesOut: 0, bytesIn: 0, startedAt });
      return;
    }
    const { target, path } = parsed;
    const admission = await admit({
      network: info.network,
      source: info.source,
      authorization: req.headers['proxy-authorization'],
      target,
      method,
      kind: 'http',
      overLimit: info.overLimit,
    });
    if (!admission.ok) {
      req.resume();
      refuse(res, 403, admission.reason, `${method} http://${target.host}:${target.port}`, admission.detail);
      record(info, target, method, 'http', admission, { status: 403, bytesOut: 0, bytesIn: 0, startedAt });
      return;
    }

    let bytesOut = 0;
    let bytesIn = 0;
    let status = 0;
    const headers = forwardHeaders(req.headers);
    // RFC 9112 §3.2.2: a proxy ignores the Host of an absolute-form request and sends the target's.
    // A different Host would reach another virtual host on the checked address (fronting).
    headers.host = target.port === 80 ? hostForHeader(target) : `${hostForHeader(target)}:${target.port}`;
    const upstream = httpRequest({
      host: admission.address,
      port: target.port,
      method,
      path,
      headers,
      agent,
      setHost: false,
    });
    upstream.on('socket', (s: Socket) => {
      if (!upstreamTimed.has(s)) {
        upstreamTimed.add(s);
        // No byte either way for idle_timeout_ms (the agent's `timeout`, kept on every socket it
        // pools): the socket goes, and a request on it fails as 504.
        s.on('timeout', () => s.destroy(new Error('upstream idle timeout')));
      }
      if (!s.connecting) return;
      const timer = setTimeout(
        () => upstream.destroy(new Error(`connect timeout after ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      s.once('connect', () => clearTimeout(timer));
      s.once('close', () => clearTimeout(timer));
    });
    const responseTimer = setTimeout(
      () =>
        upstream.destroy(
          new Error(`upstream response timeout: no answer within ${options.upstreamResponseTimeoutMs} ms`),
        ),
      options.upstreamResponseTimeoutMs,
    );
    upstream.once('close', () => clearTimeout(responseTimer));
    upstream.on('response', (upstreamRes) => {
      clearTimeout(responseTimer);
      status = upstreamRes.statusCode ?? 502;
      res.writeHead(status, upstreamRes.statusMessage, forwardHeaders(upstreamRes.headers));
      upstreamRes.on('data', (chunk: Buffer) => {
        bytesIn += chunk.length;
      });
      upstreamRes.pipe(res);
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) {
        status = /timeout/.test(err.message) ? 504 : 502;
        const body = `The egress proxy could not reach the upstream: ${err.message}\n`;
        res
          .writeHead(status, {
            [REASON_HEADER]: status === 504 ? 'upstream-timeout' : 'upstream-unreachable',
            'content-type': 'text/plain; charset=utf-8',
            'content-length': Buffer.byteLength(body),
          })
          .end(body);
      } else {
        res.destroy();
      }
    });
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      // No body (RFC 9112 §6.3: neither header): nothing to count or stream.
      req.resume();
      upstream.end();
    } else {
      req.on('data', (chunk: Buffer) => {
        bytesOut += chunk.length;
      });
      req.pipe(upstream);
    }
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
      record(info, target, method, 'http', admission, { status, bytesOut, bytesIn, startedAt });
    });
  }

  async function onConnect(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const startedAt = Date.now();
    const info = infoOf(socket);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // The connection is a tunnel from here (or ends): the tunnel's own timers govern it.
    requestStarted(socket, info);
    socket.on('error', () => socket.destroy());
    const target = parseConnectTarget(req.url);
    if (!target) {
      endRaw(socket, rawRefusal('bad-request', String(req.url).slice(0, 200), 'CONNECT needs host:port', 400));
      record(info, undefined, 'CONNECT', 'connect', undefined, {
        status: 400,
        bytesOut: 0,
        bytesIn: 0,
        startedAt,
      });
      return;
    }
    const admission = await admit({
      network: info.network,
      source: info.source,
      authorization: req.headers['proxy-authorization'],
      target,
      method: 'CONNECT',
      kind: 'connect',
      overLimit: info.overLimit,
    });
    if (!admission.ok) {
      endRaw(socket, rawRefusal(admission.reason, `CONNECT ${target.host}:${target.port}`, admission.detail));
      record(info, target, 'CONNECT', 'connect', admission, {
        status: 403,
        bytesOut: 0,
        bytesIn: 0,
        startedAt,
      });
      return;
    }
    runTunnel({
      client: socket,
      head,
      target,
      address: admission.address,
      requireTls: tlsPorts.has(target.port),
      connectTimeoutMs: options.connectTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
      clientHelloTimeoutMs: options.clientHelloTimeoutMs,
      onEnd: (end) => {
        if (end.refusal) {
          logger.warn(
            { host: target.host, reason: end.refusal.reason, detail: end.refusal.detail },
            'tunnel refused',
          );
        }
        record(info, target, 'CONNECT', 'connect', admission, {
          status: end.refusal ? 403 : end.status,
          bytesOut: end.bytesOut,
          bytesIn: end.bytesIn,
          startedAt,
          ...(end.refusal ? { refusal: end.refusal.reason } : {}),
        });
      },
    });
  }

  function onConnection(network: string, socket: Socket): void {
    const source = socket.remoteAddress ?? '';
    const limitKey = `${network}|${source}`;
    const open = (openBySource.get(limitKey) ?? 0) + 1;
    openBySource.set(limitKey, open);
    const info: SocketInfo = {
      network,
      source,
      limitKey,
      overLimit: open > options.maxConnectionsPerSandbox,
      inFlight: 0,
      headerTimer: undefined,
      served: 0,
    };
    socketInfo.set(socket, info);
    openSockets.add(socket);
    socket.once('close', () => {
      clearTimeout(info.headerTimer);
      openSockets.delete(socket);
      const left = (openBySource.get(limitKey) ?? 1) - 1;
      if (left <= 0) openBySource.delete(limitKey);
      else openBySource.set(limitKey, left);
    });
    if (info.overLimit) {
      socket.on('error', () => socket.destroy());
      // Over the cap: answered and closed now, never parsed, so it holds nothing while it waits.
      // The sandbox is not identified (no request is read): the record carries the source only.
      const detail = `more than ${options.maxConnectionsPerSandbox} open connections from ${source}`;
      endRaw(socket, rawRefusal('connection-limit', 'connection', detail, 429));
      record(info, undefined, '', 'http', undefined, {
        status: 429,
        bytesOut: 0,
        bytesIn: 0,
        startedAt: Date.now(),
        refusal: 'connection-limit',
      });
      return;
    }
    socket.setTimeout(options.idleTimeoutMs, () => socket.destroy());
    armHeaderTimer(socket, info);
    httpServer.emit('connection', socket);
  }

  return {
    listen(listener) {
      const server = createNetServer({ noDelay: true }, (socket) => onConnection(listener.network, socket));
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.once('listening', () => listeners.push({ network: listener.network, server }));
        server.listen(listener.port, listener.host, () => {
          server.off('error', reject);
          resolve((server.address() as { port: number }).port);
          logger.info(
            { ...listener, port: (server.address() as { port: number }).port },
            'egress proxy listening',
          );
        });
      });
    },
    async unlisten(network) {
      const gone = listeners.filter((l) => l.network === network);
      for (const l of gone) listeners.splice(listeners.indexOf(l), 1);
      await Promise.all(gone.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
    },
    flushAudit: () => audit.flush(),
    openConnections: () => openSockets.size,
    identityCacheLive: () => identify.cacheLive(),
    async close(drainMs?: number) {
      // Stop accepting first: server.close() alone would wait for every idle keep-alive connection.
      const closed = Promise.all(
        listeners.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
      if (drainMs && drainMs > 0) {
        // Drain: a connection with nothing in flight goes now; tunnels and requests being served run
        // until they end or the budget is spent. Polled: a few hundred sockets at most per proxy.
        const until = Date.now() + drainMs;
        const idleGo = () => {
          for (const socket of openSockets) if ((socketInfo.get(socket)?.inFlight ?? 0) === 0) socket.destroy();
        };
        idleGo();
        if (openSockets.size > 0) logger.info({ open: openSockets.size, drainMs }, 'draining open connections');
        while (openSockets.size > 0 && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, until - Date.now()))));
          idleGo();
        }
        if (openSockets.size > 0) logger.warn({ open: openSockets.size }, 'drain budget spent; cutting what is left');
      }
      shutdown.abort();
      for (const socket of openSockets) socket.destroy();
      await closed;
      await identify.close();
      agent.destroy();
      await audit.close();
    },
  };
}

/** Writes a final answer and closes: what the client sent meanwhile is read and dropped (so the
 * close is a FIN, not a reset that could discard the answer), and the socket is destroyed after a
 * grace second either way. */
function endRaw(socket: Socket, answer: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.resume();
  socket.end(answer);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The target as it goes in a Host header: IPv6 literals in brackets. */
function hostForHeader(target: Target): string {
  return target.host.includes(':') ? `[${target.host}]` : target.host;
}
