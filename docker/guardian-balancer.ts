// Round-robin in front of the guardian replicas of a compose cluster. Clients (worker, proxy) keep
// connections alive to ONE address, so a DNS name with N replicas behind it would pin every review
// to the first replica resolved: this resolves the service name again for each request (Docker's
// DNS answers every replica) and sends each review to the next replica in turn.
// Fails closed: no replica resolvable or reachable -> 502 with a JSON error, which the guardian
// client turns into outcome `failed` (never approved).
// Env: PADDOCK_BALANCER_PORT (8081), PADDOCK_BALANCER_HOST (0.0.0.0), GUARDIAN_UPSTREAM_NAME
// (guardian), GUARDIAN_UPSTREAM_PORT (8081).
import { lookup } from 'node:dns/promises';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';

const listenPort = Number(process.env['PADDOCK_BALANCER_PORT'] || 8081);
const listenHost = process.env['PADDOCK_BALANCER_HOST'] || '0.0.0.0';
const upstreamName = process.env['GUARDIAN_UPSTREAM_NAME'] || 'guardian';
const upstreamPort = Number(process.env['GUARDIAN_UPSTREAM_PORT'] || 8081);
const connectTimeoutMs = Number(process.env['GUARDIAN_CONNECT_TIMEOUT_MS'] || 2000);
// Keep-alive per replica address is fine: the choice of address is made per request, above it.
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
let next = 0;

function log(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ time: Date.now(), service: 'guardian-balancer', ...fields }));
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message } }));
}

/** Every replica address, sorted so the rotation is stable while the set is unchanged. */
async function replicas(): Promise<string[]> {
  const found = await lookup(upstreamName, { all: true, family: 4 });
  return [...new Set(found.map((a) => a.address))].sort();
}

async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'GET' && req.url === '/healthz') {
    // Healthy when at least one replica is resolvable; each replica has its own health check.
    const addresses = await replicas().catch(() => []);
    res.writeHead(addresses.length > 0 ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: addresses.length > 0 ? 'ok' : 'no_replicas', replicas: addresses.length }));
    return;
  }
  let addresses: string[];
  try {
    addresses = await replicas();
  } catch (err) {
    fail(res, 502, 'guardian_unresolvable', `cannot resolve ${upstreamName}: ${(err as Error).message}`);
    return;
  }
  if (addresses.length === 0) return fail(res, 502, 'guardian_unresolvable', `${upstreamName} has no replicas`);
  const address = addresses[next++ % addresses.length]!;
  const upstream = request({
    host: address,
    port: upstreamPort,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, host: `${upstreamName}:${upstreamPort}` },
    agent,
  });
  const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), connectTimeoutMs);
  upstream.on('socket', (socket) => {
    if (!socket.connecting) clearTimeout(connectTimer);
    else socket.once('connect', () => clearTimeout(connectTimer));
  });
  upstream.on('response', (answer) => {
    // Which replica answered: visible to operators and to the compose smoke test.
    res.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'x-paddock-guardian-replica': address });
    answer.pipe(res);
  });
  upstream.on('error', (err) => {
    clearTimeout(connectTimer);
    log({ level: 'warn', msg: 'guardian replica failed', replica: address, err: err.message });
    fail(res, 502, 'guardian_unreachable', `guardian replica ${address}: ${err.message}`);
  });
  // A caller that gives up (deadline) aborts the upstream request too.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

const server = createServer((req, res) => {
  forward(req, res).catch((err: Error) => fail(res, 502, 'balancer_error', err.message));
});
server.keepAliveTimeout = 65_000;
server.listen(listenPort, listenHost, () =>
  log({ level: 'info', msg: 'guardian balancer listening', port: listenPort, upstream: `${upstreamName}:${upstreamPort}` }),
);
const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 10_000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
