// The egress proxy against real sandbox containers: curl inside a hardened container on an
// internal Docker network, through the proxy listening on the network's gateway, to HTTP and
// HTTPS upstreams the test starts on a second internal network's gateway (a host address the
// sandbox cannot route to). Real Redis, real Docker; the guardian is a stub HTTP server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger, ensureSandboxImage } from '@paddock/platform';
import {
  createGuardianClient,
  decisionFromFields,
  type DecisionRecord,
  egressKeys,
  type GuardianClient,
  keys,
} from '@paddock/contracts';
import type { SandboxEgressRecord } from '@paddock/contracts';
import { issueExecCredential, putSandboxEgress, revokeExecCredential } from '@paddock/sandbox-worker';
import { approveDenial, type DenialRecord, NETWORK_DENIAL_SOURCE } from '@paddock/turn-queue';
import {
  ensureDocker,
  freePort,
  type RedisServer,
  removeLabeled,
  startRedis,
  testRun,
  waitFor,
} from '@paddock/testing';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { createEgressProxy, type EgressProxy } from '../src/proxy-server.ts';
import { createResolver } from '../src/resolver.ts';
import { clientHello, rawExtension } from './support/client-hello.ts';
import {
  addFirewall,
  createInternalNetwork,
  curl,
  removeFirewall,
  type Sandbox,
  sh,
  startSandbox,
  type TestNetwork,
} from './support/sandbox.ts';
import {
  type StubGuardian,
  startHttpsUpstream,
  startHttpUpstream,
  startStubGuardian,
  type Upstream,
} from './support/upstreams.ts';

const run = testRun('egress-sandbox');
const REVIEW_DEADLINE_MS = 1500;
const MAX_CONNECTIONS = 8;
// The second proxy's budgets (request head, upstream answer): short, so a test sees them expire.
const BUDGET_MS = 1500;
let docker: Docker;
let redisServer: RedisServer;
let redis: Redis;
let sandboxNet: TestNetwork;
let upstreamNet: TestNetwork;
let http: Upstream;
let https: Upstream;
let loopback: Upstream;
let guardian: StubGuardian;
let guardianDown = false;
let proxy: EgressProxy;
let proxyPort: number;
/** Same sandbox network and store, short request-head and upstream-answer budgets. */
let budgetProxy: EgressProxy;
let budgetPort: number;
let budgetProxyUrl: string;
/** A proxy the drain test closes (the others serve every test). */
let drainProxy: EgressProxy;
let drainPort: number;
let sandbox: Sandbox;
let proxyUrl: string;
let token: string;
let threadCounter = 0;

const SANDBOX_ID = `sbx-${run.runId}`;

function record(
  overrides: Partial<SandboxEgressRecord> = {},
  policy: Partial<SandboxEgressRecord['policy']> = {},
) {
  const base: SandboxEgressRecord = {
    sandbox_id: SANDBOX_ID,
    tenant: 'tenant-a',
    thread_id: 'thread-1',
    network: sandboxNet.name,
    address: sandbox.address,
    policy: {
      mode: 'allowlist',
      allowed_domains: ['allowed.test', '**.denied.test', 'loopback.test', 'metadata.test'],
      denied_domains: ['denied.test'],
      allowed_ports: [http.port, https.port, loopback.port],
      ...policy,
    },
    escalation: 'none',
    grant_scope: 'once',
    policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'on-request' },
    ...overrides,
  };
  return putSandboxEgress(redis, base);
}

const httpUrl = (host: string, path = '/') => `http://${host}:${http.port}${path}`;
const viaProxy = (url: string, extra = '') => `-x '${proxyUrl}' ${extra} '${url}'`;
const get = (url: string, extra = '') => curl(docker, sandbox.container, viaProxy(url, extra));

async function decisions(): Promise<DecisionRecord[]> {
  // Both proxies buffer their records: the budget proxy's must be written too before reading the stream.
  await proxy.flushAudit();
  await budgetProxy.flushAudit();
  const entries = await redis.xrange(egressKeys.decisions, '-', '+');
  return entries.map(([, fields]) => decisionFromFields(fields));
}

/** The stub guardian does not check it; the real guardian's check is in services/guardian/test. */
const STUB_SERVICE_TOKEN = 'stub-guardian-service-credential-0000000000';

before(async () => {
  docker = await ensureDocker();
  const image = await ensureSandboxImage(docker);
  redisServer = await startRedis();
  redis = redisServer.client();
  redis.on('error', () => {}); // the server stops before the client in after()
  sandboxNet = await createInternalNetwork(docker, run.labels, 'pdk');
  upstreamNet = await createInternalNetwork(docker, run.labels, 'pdu');
  http = await startHttpUpstream(upstreamNet.gateway);
  https = await startHttpsUpstream(upstreamNet.gateway, ['allowed.test', 'other.test']);
  loopback = await startHttpUpstream('127.0.0.1');
  guardian = await startStubGuardian();
  const deadUrl = `http://127.0.0.1:${await freePort()}`;
  // The real guardian client; the test points it at the stub, or at a port where nothing listens.
  const live = createGuardianClient({ url: guardian.url, serviceToken: STUB_SERVICE_TOKEN });
  const dead = createGuardianClient({ url: deadUrl, serviceToken: STUB_SERVICE_TOKEN });
  const switching: GuardianClient = { review: (req, opts) => (guardianDown ? dead : live).review(req, opts) };
  const upstreamAddress = upstreamNet.gateway;
  const lookup = createResolver({
    useDns: false,
    hosts: {
      'allowed.test': [upstreamAddress],
      'denied.test': [upstreamAddress],
      'other.test': [upstreamAddress],
      'another.test': [upstreamAddress],
      'loopback.test': ['127.0.0.1'],
      'metadata.test': ['169.254.169.254'],
      // IPv6 forms that carry (or may carry) an inward IPv4.
      'v4compat.test': ['::a00:1'],
      'sitelocal.test': ['fec0::1'],
      'nat64local.test': ['64:ff9b:1::a00:1'],
      'nat64.test': ['64:ff9b::7f00:1'],
      'sixtofour.test': ['2002:7f00:1::1'],
      'teredo.test': ['2001:0:4136:e378:8000:63bf:80ff:fffe'],
    },
  });
  const options = {
    reviewDeadlineMs: REVIEW_DEADLINE_MS,
    maxConnectionsPerSandbox: MAX_CONNECTIONS,
    tlsPorts: [443, https.port],
    // The operator allows the test's upstream address (a host address on a private range).
    allowedPrivateRanges: [`${upstreamAddress}/32`],
    connectTimeoutMs: 3000,
  };
  const logger = createLogger('egress-proxy-test', 'warn');
  proxy = createEgressProxy({ redis, guardian: switching, lookup, logger, options });
  proxyPort = await proxy.listen({ network: sandboxNet.name, host: sandboxNet.gateway, port: 0 });
  budgetProxy = createEgressProxy({
    redis,
    guardian: switching,
    lookup,
    logger,
    options: { ...options, requestHeaderTimeoutMs: BUDGET_MS, upstreamResponseTimeoutMs: BUDGET_MS },
  });
  budgetPort = await budgetProxy.listen({ network: sandboxNet.name, host: sandboxNet.gateway, port: 0 });
  drainProxy = createEgressProxy({ redis, guardian: switching, lookup, logger, options });
  drainPort = await drainProxy.listen({ network: sandboxNet.name, host: sandboxNet.gateway, port: 0 });
  await addFirewall(sandboxNet, [proxyPort, budgetPort, drainPort]);
  sandbox = await startSandbox(docker, image, sandboxNet, run.labels);
  await record();
  const issued = await issueExecCredential(redis, {
    sandboxId: SANDBOX_ID,
    execId: 'exec-1',
    ttlMs: 600_000,
  });
  token = issued.token;
  proxyUrl = issued.proxyUrl(sandboxNet.gateway, proxyPort);
  budgetProxyUrl = issued.proxyUrl(sandboxNet.gateway, budgetPort);
});

after(async () => {
  await proxy?.close();
  await budgetProxy?.close();
  await drainProxy?.close();
  await Promise.all([http?.close(), https?.close(), loopback?.close(), guardian?.close()]);
  await redisServer?.stop();
  // Rules before their network: another suite's reaper sweeps rules whose network is gone.
  if (sandboxNet) await removeFirewall(sandboxNet.name);
  if (docker) await removeLabeled(docker, run.runId);
});

test('the sandbox has no resolver and no route around the proxy', async () => {
  const dns = await sh(docker, sandbox.container, 'getent hosts allowed.test; echo "rc=$?"');
  assert.match(dns.stdout, /rc=2/, `getent must fail: ${dns.stdout}`);
  const byName = await curl(
    docker,
    sandbox.container,
    `--noproxy '*' --max-time 5 '${httpUrl('allowed.test')}'`,
  );
  // 6: could not resolve; 28: the resolver query went unanswered until the time limit.
  assert.ok([6, 28].includes(byName.exit), `no resolution: ${JSON.stringify(byName)}`);
  assert.equal(byName.status, 0);
  const direct = await curl(
    docker,
    sandbox.container,
    `--noproxy '*' --connect-timeout 3 --max-time 4 'http://${upstreamNet.gateway}:${http.port}/'`,
  );
  assert.notEqual(direct.exit, 0, `a direct connection must fail: ${JSON.stringify(direct)}`);
  assert.equal(direct.status, 0);
  assert.equal(http.total(), 0, 'nothing reached the upstream directly');
  // The same upstream through the proxy: the route exists only there.
  assert.equal((await get(httpUrl('allowed.test'))).status, 200);
  assert.equal(http.total(), 1);
});

test('an allowed host passes over plain HTTP and over a CONNECT tunnel (TLS), and the decision is recorded', async () => {
  await record({ thread_id: 'thread-allowed' });
  const plain = await get(httpUrl('allowed.test', '/hello'));
  assert.equal(plain.status, 200, JSON.stringify(plain));
  assert.match(plain.body, /hello from allowed\.test GET \/hello/);
  assert.match(plain.headers, /x-upstream-saw-proxy-auth: false/, 'the proxy credential is not forwarded');
  const tls = await get(`https://allowed.test:${https.port}/secure`, '-k');
  assert.equal(tls.connectStatus, 200, JSON.stringify(tls));
  assert.equal(tls.status, 200);
  assert.match(tls.body, /hello from allowed\.test GET \/secure/);
  assert.equal(http.hits('allowed.test'), 2); // one from the first test
  assert.equal(https.hits('allowed.test'), 1);

  const recs = (await decisions()).filter((d) => d.thread_id === 'thread-allowed');
  const plainRec = recs.find((d) => d.kind === 'http');
  const tunnelRec = recs.find((d) => d.kind === 'connect');
  assert.ok(plainRec && tunnelRec, JSON.stringify(recs));
  assert.equal(plainRec.decision, 'allow');
  assert.equal(plainRec.reason, 'allowed-by-policy');
  assert.equal(plainRec.sandbox_id, SANDBOX_ID);
  assert.equal(plainRec.tenant, 'tenant-a');
  assert.equal(plainRec.exec_id, 'exec-1');
  assert.equal(plainRec.source, sandbox.address);
  assert.equal(plainRec.host, 'allowed.test');
  assert.equal(plainRec.port, http.port);
  assert.equal(plainRec.method, 'GET');
  assert.equal(plainRec.address, upstreamNet.gateway);
  assert.ok(plainRec.bytes_in > 0);
  assert.equal(tunnelRec.decision, 'allow');
  assert.ok(tunnelRec.bytes_out > 200, 'the TLS handshake went out'); // ClientHello and request
  assert.ok(tunnelRec.bytes_in > 200);
  const bytes = await redis.hgetall(egressKeys.sandboxBytes(SANDBOX_ID));
  assert.ok(Number(bytes['bytes_in']) >= plainRec.bytes_in + tunnelRec.bytes_in);
});

test('denied, off, method-limited, unlisted and wrong-port requests are refused with their reason; nothing reaches the upstream', async () => {
  const before = http.total() + https.total();
  await record({ thread_id: 'thread-refused' });
  const denied = await get(httpUrl('denied.test'));
  assert.equal(denied.status, 403);
  assert.equal(denied.reason, 'blocked-by-denylist');
  assert.match(denied.body, /Refused by the Paddock sandbox network policy/);
  assert.match(denied.body, /not a network fault/);
  assert.match(denied.body, /Do not try to work around it/);
  const deniedTls = await get(`https://denied.test:${https.port}/`, '-k');
  assert.equal(deniedTls.connectStatus, 403);
  assert.equal(deniedTls.reason, 'blocked-by-denylist');
  const unlisted = await get(httpUrl('other.test'));
  assert.equal(unlisted.status, 403);
  assert.equal(unlisted.reason, 'blocked-by-allowlist');
  const unknownName = await get(httpUrl('nowhere.invalid'));
  assert.equal(unknownName.reason, 'blocked-by-allowlist');
  const port = await get('http://allowed.test:9/');
  assert.equal(port.reason, 'blocked-by-port');

  await record({ thread_id: 'thread-refused' }, { allowed_methods: ['GET', 'HEAD'] });
  const post = await get(httpUrl('allowed.test'), "-X POST -d 'x=1'");
  assert.equal(post.status, 403);
  assert.equal(post.reason, 'blocked-by-method');
  const tunnel = await get(`https://allowed.test:${https.port}/`, '-k');
  assert.equal(tunnel.connectStatus, 403, 'a method limit refuses tunnels: their methods are invisible');
  assert.equal(tunnel.reason, 'blocked-by-method');

  await record({ thread_id: 'thread-refused' }, { mode: 'off' });
  const off = await get(httpUrl('allowed.test'));
  assert.equal(off.status, 403);
  assert.equal(off.reason, 'network-off');

  assert.equal(http.total() + https.total(), before, 'no refused request reached an upstream');
  const recs = (await decisions()).filter((d) => d.thread_id === 'thread-refused');
  assert.ok(recs.length >= 8);
  assert.ok(recs.every((d) => d.decision === 'deny' && d.bytes_out === 0));
  await record();
});

test('names resolving to loopback or the metadata address, and private IP literals, are refused', async () => {
  await record({ thread_id: 'thread-private' });
  const lo = await get(`http://loopback.test:${loopback.port}/`);
  assert.equal(lo.status, 403);
  assert.equal(lo.reason, 'blocked-private-address');
  const meta = await get('http://metadata.test:80/latest/meta-data/', '');
  // Port 80 is not in this policy's ports: allow it to reach the address check.
  assert.equal(meta.reason, 'blocked-by-port');
  await record({ thread_id: 'thread-private' }, { allowed_ports: [80, loopback.port, https.port] });
  const meta80 = await get('http://metadata.test/latest/meta-data/');
  assert.equal(meta80.status, 403);
  assert.equal(meta80.reason, 'blocked-private-address');
  assert.match(meta80.body, /169\.254\.169\.254/);
  const metaTls = await get(`https://metadata.test:${https.port}/`, '-k');
  assert.equal(metaTls.connectStatus, 403);
  assert.equal(metaTls.reason, 'blocked-private-address');
  // Mode full allows any name; the address check still refuses literals and numeric forms.
  // (No deny list here: with one, a literal is refused before the address check; see below.)
  await record(
    { thread_id: 'thread-private' },
    { mode: 'full', denied_domains: [], allowed_ports: [80, loopback.port] },
  );
  for (const literal of [
    `127.0.0.1:${loopback.port}`,
    `2130706433:${loopback.port}`,
    '169.254.169.254',
    `[::1]:${loopback.port}`,
  ]) {
    const r = await get(`http://${literal}/`);
    assert.equal(r.status, 403, literal);
    assert.equal(r.reason, 'blocked-private-address', literal);
  }
  assert.equal(loopback.total(), 0, 'the loopback server was never reached');
  await record();
});

test('a policy change applies to the next request without a restart', async () => {
  await record({ thread_id: 'thread-live' });
  assert.equal((await get(httpUrl('allowed.test'))).status, 200);
  await record({ thread_id: 'thread-live' }, { allowed_domains: ['another.test'] });
  const now = await get(httpUrl('allowed.test'));
  assert.equal(now.status, 403);
  assert.equal(now.reason, 'blocked-by-allowlist');
  assert.equal((await get(httpUrl('another.test'))).status, 200);
  await record({ thread_id: 'thread-live' });
  assert.equal((await get(httpUrl('allowed.test'))).status, 200);
});

test('connections are attributed to a sandbox and an exec: missing, stale and foreign credentials and unknown sources are refused', async () => {
  await record();
  const before = http.total();
  const noCred = await curl(
    docker,
    sandbox.container,
    `-x 'http://${sandboxNet.gateway}:${proxyPort}' '${httpUrl('allowed.test')}'`,
  );
  assert.equal(noCred.status, 403);
  assert.equal(noCred.reason, 'missing-credential');
  const forged = await curl(
    docker,
    sandbox.container,
    `-x 'http://${SANDBOX_ID}:guessed-token@${sandboxNet.gateway}:${proxyPort}' '${httpUrl('allowed.test')}'`,
  );
  assert.equal(forged.reason, 'stale-credential');
  // An exec's credential stops working when the worker revokes it at the end of the exec.
  const second = await issueExecCredential(redis, {
    sandboxId: SANDBOX_ID,
    execId: 'exec-2',
    ttlMs: 600_000,
  });
  const url2 = second.proxyUrl(sandboxNet.gateway, proxyPort);
  assert.equal(
    (await curl(docker, sandbox.container, `-x '${url2}' '${httpUrl('allowed.test')}'`)).status,
    200,
  );
  await revokeExecCredential(redis, SANDBOX_ID, second.token);
  const revoked = await curl(docker, sandbox.container, `-x '${url2}' '${httpUrl('allowed.test')}'`);
  assert.equal(revoked.reason, 'stale-credential');
  // Another sandbox (no record for its address) presenting this sandbox's valid credential.
  const image = await ensureSandboxImage(docker);
  const stranger = await startSandbox(docker, image, sandboxNet, run.labels);
  const foreign = await curl(docker, stranger.container, `-x '${proxyUrl}' '${httpUrl('allowed.test')}'`);
  assert.equal(foreign.status, 403);
  assert.equal(foreign.reason, 'unknown-source');
  assert.equal(http.total(), before + 1, 'only the valid request reached the upstream');
  assert.ok(token.length > 20);
});

test('a tunnel whose TLS server name differs from its CONNECT target is cut', async () => {
  await record({ thread_id: 'thread-sni' });
  const script = `python3 - <<'PY'
import base64, socket, ssl
s = socket.create_connection(("${sandboxNet.gateway}", ${proxyPort}), timeout=10)
auth = base64.b64encode(b"${SANDBOX_ID}:${token}").decode()
s.sendall(f"CONNECT allowed.test:${https.port} HTTP/1.1\\r\\nHost: allowed.test:${https.port}\\r\\nProxy-Authorization: Basic {auth}\\r\\n\\r\\n".encode())
print("CONNECT", s.recv(4096).split(b"\\r\\n")[0].decode())
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname="other.test")
    t.sendall(b"GET / HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n")
    print("TLS OK", t.recv(100))
except Exception as e:
    print("TLS FAILED", type(e).__name__, e)
PY`;
  const before = https.total();
  const r = await sh(docker, sandbox.container, script);
  assert.match(r.stdout, /CONNECT HTTP\/1\.1 200/, r.stdout + r.stderr);
  assert.match(r.stdout, /TLS FAILED/, r.stdout);
  assert.equal(https.total(), before, 'no request reached the upstream through the fronted tunnel');
  const rec = (await decisions()).find((d) => d.thread_id === 'thread-sni' && d.kind === 'connect');
  assert.equal(rec?.decision, 'deny');
  assert.equal(rec?.reason, 'blocked-sni-mismatch');
});

test('an allowlist miss is escalated to the guardian: approved once, approved for the thread, denied, timed out, erroring, down', async () => {
  const thread = (name: string) => `thread-esc-${name}-${++threadCounter}`;
  const esc = (name: string, scope: 'once' | 'thread' = 'once') =>
    record({ thread_id: thread(name), escalation: 'guardian', grant_scope: scope });

  // Approved, scope once: the held request passes; the next one is reviewed again.
  await esc('once');
  guardian.mode = 'approve';
  let reviews = guardian.requests.length;
  const once = await get(httpUrl('other.test', '/a'));
  assert.equal(once.status, 200, JSON.stringify(once));
  assert.equal(guardian.requests.length, reviews + 1);
  const req = guardian.requests.at(-1);
  assert.deepEqual(req?.action, {
    type: 'network',
    host: 'other.test',
    port: http.port,
    protocol: 'http',
    method: 'GET',
  });
  assert.match(req?.thread_id ?? '', /^thread-esc-once-/);
  assert.equal(req?.tenant, 'tenant-a');
  assert.equal(req?.deadline_ms, REVIEW_DEADLINE_MS);
  assert.equal((await get(httpUrl('other.test', '/b'))).status, 200);
  assert.equal(guardian.requests.length, reviews + 2, 'scope once: reviewed again');

  // Approved, scope thread: later requests of the thread to that host:port need no review.
  await esc('thread', 'thread');
  reviews = guardian.requests.length;
  assert.equal((await get(httpUrl('other.test'))).status, 200);
  guardian.mode = 'deny'; // would refuse, were it asked
  const granted = await get(httpUrl('other.test'));
  assert.equal(granted.status, 200);
  assert.equal(guardian.requests.length, reviews + 1, 'the thread grant answered without a review');
  // A verdict may narrow a thread-scoped sandbox to once.
  await esc('narrowed', 'thread');
  guardian.mode = 'approve-once';
  assert.equal((await get(httpUrl('other.test'))).status, 200);
  guardian.mode = 'deny';
  assert.equal((await get(httpUrl('other.test'))).reason, 'review-denied');

  const hitsBefore = http.hits('other.test');
  await esc('denied');
  guardian.mode = 'deny';
  const denied = await get(httpUrl('other.test'));
  assert.equal(denied.status, 403);
  assert.equal(denied.reason, 'review-denied');
  const deniedTls = await get(`https://other.test:${https.port}/`, '-k');
  assert.equal(deniedTls.reason, 'review-denied');
  assert.equal(guardian.requests.at(-1)?.action.type, 'network');

  await esc('hang');
  guardian.mode = 'hang';
  const startedAt = Date.now();
  const hung = await get(httpUrl('other.test'));
  const heldMs = Date.now() - startedAt;
  assert.equal(hung.status, 403);
  assert.equal(hung.reason, 'review-timed-out');
  assert.ok(heldMs >= REVIEW_DEADLINE_MS, `held ${heldMs} ms`);

  await esc('500');
  guardian.mode = 'error500';
  const erroring = await get(httpUrl('other.test'));
  assert.equal(erroring.reason, 'review-failed');

  await esc('down');
  guardianDown = true;
  const down = await get(httpUrl('other.test'));
  guardianDown = false;
  assert.equal(down.status, 403);
  assert.equal(down.reason, 'review-failed');
  assert.equal(http.hits('other.test'), hitsBefore, 'no refused review let a request through');

  // Never escalated: an explicit deny, a private address.
  await record({ thread_id: thread('never'), escalation: 'guardian' }, { allowed_domains: ['allowed.test'] });
  guardian.mode = 'approve';
  reviews = guardian.requests.length;
  assert.equal((await get(httpUrl('denied.test'))).reason, 'blocked-by-denylist');
  assert.equal((await get(`http://loopback.test:${loopback.port}/`)).reason, 'blocked-private-address');
  assert.equal(guardian.requests.length, reviews, 'the guardian was not asked');
  await record();
});

test('concurrent identical held requests share one review', async () => {
  await record({ thread_id: `thread-shared-${++threadCounter}`, escalation: 'guardian' });
  guardian.mode = 'approve';
  guardian.delayMs = 700;
  const reviews = guardian.requests.length;
  const hits = http.hits('other.test');
  const urls = Array.from({ length: 5 }, () => `'${httpUrl('other.test', '/same')}'`).join(' ');
  const r = await sh(
    docker,
    sandbox.container,
    `curl -sS --max-time 20 --parallel --parallel-immediate --parallel-max 5 -x '${proxyUrl}' -o /dev/null -w '%{http_code}\\n' ${urls}`,
  );
  guardian.delayMs = 0;
  const codes = r.stdout.split('\n').filter((l) => /^\d{3}$/.test(l));
  assert.deepEqual(codes, ['200', '200', '200', '200', '200'], r.stdout + r.stderr);
  assert.equal(guardian.requests.length, reviews + 1, 'one review for five identical requests');
  assert.equal(http.hits('other.test'), hits + 5);
  await record();
});

test(`50 concurrent tunnels from one sandbox are capped at ${MAX_CONNECTIONS}`, async () => {
  await record({ thread_id: 'thread-cap' });
  const startedAt = Date.now();
  const before = http.hits('allowed.test');
  const urls = Array.from({ length: 50 }, (_, i) => `'${httpUrl('allowed.test', `/slow?i=${i}`)}'`).join(' ');
  const r = await sh(
    docker,
    sandbox.container,
    `curl -s --max-time 30 --parallel --parallel-immediate --parallel-max 50 --proxytunnel -x '${proxyUrl}' -w '%{http_connect} %{http_code}\\n' ${urls}; true`,
  );
  const lines = r.stdout.split('\n').filter((l) => /^\d{3} \d{3}$/.test(l));
  assert.equal(lines.length, 50, r.stdout + r.stderr);
  const passed = lines.filter((l) => l === '200 200').length;
  const refused = lines.filter((l) => l.startsWith('429')).length;
  assert.equal(passed, MAX_CONNECTIONS, r.stdout);
  assert.equal(refused, 50 - MAX_CONNECTIONS, r.stdout);
  assert.equal(http.hits('allowed.test'), before + MAX_CONNECTIONS);
  const all = await decisions();
  const recs = all.filter((d) => d.thread_id === 'thread-cap');
  // Refused at accept, before any request is read: the record names the source, not the sandbox.
  const limited = all.filter(
    (d) => d.reason === 'connection-limit' && d.source === sandbox.address && d.at_ms >= startedAt,
  );
  assert.equal(limited.length, 50 - MAX_CONNECTIONS);
  assert.ok(limited.every((d) => d.status === 429 && d.decision === 'deny'));
  assert.equal(recs.filter((d) => d.decision === 'allow').length, MAX_CONNECTIONS);
});

/** Basic proxy credential of the test's exec, for raw-socket scripts. */
const basicAuth = () => Buffer.from(`${SANDBOX_ID}:${token}`).toString('base64');

test('Host-header fronting: an absolute-form request reaches the target with the target\'s Host, never the one the sandbox sent', async () => {
  await record({ thread_id: 'thread-host' });
  const allowedBefore = http.hits('allowed.test');
  const fronted = await get(httpUrl('allowed.test', '/fronted'), "-H 'Host: forbidden.test'");
  assert.equal(fronted.status, 200, JSON.stringify(fronted));
  assert.match(fronted.body, /hello from allowed\.test GET \/fronted/);
  const withPort = await get(httpUrl('allowed.test', '/fronted'), `-H 'Host: forbidden.test:${http.port}'`);
  assert.equal(withPort.status, 200);
  assert.match(withPort.body, /hello from allowed\.test /);
  assert.equal(http.hits('forbidden.test'), 0, 'the forbidden virtual host got no request');
  assert.equal(http.hits('allowed.test'), allowedBefore + 2);
});

test('IP literals are refused under an allow list or a deny list, over HTTP and CONNECT, and never reviewed', async () => {
  const gw = upstreamNet.gateway; // operator-allowed, so only the literal rule can refuse it
  const decimal = gw.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const before = http.total() + https.total();
  // Mode full with a deny list: the address of denied.test, spelled out, would step around it.
  await record({ thread_id: 'thread-literal' }, { mode: 'full' });
  const plain = await get(`http://${gw}:${http.port}/`);
  assert.equal(plain.status, 403, JSON.stringify(plain));
  assert.equal(plain.reason, 'blocked-ip-literal');
  const numeric = await get(`http://${decimal}:${http.port}/`);
  assert.equal(numeric.reason, 'blocked-ip-literal');
  const tunnel = await get(`https://${gw}:${https.port}/`, '-k');
  assert.equal(tunnel.connectStatus, 403);
  assert.equal(tunnel.reason, 'blocked-ip-literal');
  // An allow list naming the address, and a reviewer that would approve: still refused, unasked.
  await record(
    { thread_id: 'thread-literal', escalation: 'guardian' },
    { allowed_domains: ['allowed.test', gw] },
  );
  guardian.mode = 'approve';
  const reviews = guardian.requests.length;
  const listed = await get(`http://${gw}:${http.port}/`);
  assert.equal(listed.status, 403);
  assert.equal(listed.reason, 'blocked-ip-literal');
  assert.equal(guardian.requests.length, reviews, 'the guardian was not asked');
  assert.equal(http.total() + https.total(), before, 'no literal reached an upstream');
  // Mode full and no deny list: no list to step around, the address check decides (allowed here).
  await record({ thread_id: 'thread-literal' }, { mode: 'full', denied_domains: [] });
  assert.equal((await get(`http://${gw}:${http.port}/`)).status, 200);
  await record();
});

test('names resolving to IPv6 forms that carry an inward IPv4 (compatible, NAT64, 6to4, Teredo) or to site-local are refused', async () => {
  await record({ thread_id: 'thread-v6' }, { mode: 'full', denied_domains: [], allowed_ports: [http.port] });
  for (const [name, range] of [
    ['v4compat.test', /ipv4-compatible.*10\.0\.0\.1/],
    ['sitelocal.test', /fec0::1/],
    ['nat64local.test', /nat64 local-use/],
    ['nat64.test', /nat64 well-known.*127\.0\.0\.1/],
    ['sixtofour.test', /6to4.*127\.0\.0\.1/],
    ['teredo.test', /teredo.*127\.0\.0\.1/],
  ] as const) {
    const r = await get(httpUrl(name));
    assert.equal(r.status, 403, `${name}: ${JSON.stringify(r)}`);
    assert.equal(r.reason, 'blocked-private-address', name);
    assert.match(r.body, range, name);
  }
  await record();
});

test('a TLS ClientHello carrying Encrypted Client Hello is cut after the 200 and never reaches the upstream', async () => {
  await record({ thread_id: 'thread-ech' });
  // The outer SNI names the allowed CONNECT target; the ECH extension would carry the real name.
  const hello = clientHello('allowed.test', false, [
    rawExtension(43, Buffer.from([2, 0x03, 0x04])),
    rawExtension(0xfe0d, Buffer.alloc(64, 0x5a)),
  ]).toString('base64');
  const script = `python3 - <<'PY'
import base64, socket
s = socket.create_connection(("${sandboxNet.gateway}", ${proxyPort}), timeout=10)
s.sendall(b"CONNECT allowed.test:${https.port} HTTP/1.1\\r\\nHost: allowed.test:${https.port}\\r\\nProxy-Authorization: Basic ${basicAuth()}\\r\\n\\r\\n")
head = b""
while b"\\r\\n\\r\\n" not in head:
    chunk = s.recv(4096)
    if not chunk: break
    head += chunk
print("CONNECT", head.split(b"\\r\\n")[0].decode())
s.sendall(base64.b64decode("${hello}"))
answer = head.split(b"\\r\\n\\r\\n", 1)[1] if b"\\r\\n\\r\\n" in head else b""
for _ in range(20):
    try:
        chunk = s.recv(4096)
    except OSError:
        break
    if not chunk: break
    answer += chunk
print("ANSWER", answer.hex())
PY`;
  const r = await sh(docker, sandbox.container, script);
  assert.match(r.stdout, /CONNECT HTTP\/1\.1 200/, r.stdout + r.stderr);
  // The proxy's own TLS alert: fatal (2), access_denied (49).
  assert.match(r.stdout, /ANSWER 15030100020231\s/, r.stdout);
  const rec = (await decisions()).find((d) => d.thread_id === 'thread-ech' && d.kind === 'connect');
  assert.equal(rec?.decision, 'deny', JSON.stringify(rec));
  assert.equal(rec?.reason, 'blocked-encrypted-client-hello');
  assert.equal(rec?.bytes_out, 0, 'no byte of the ClientHello went upstream');
});

test(`a connection over the cap of ${MAX_CONNECTIONS} is answered 429 at accept and closed, without sending a byte`, async () => {
  await record({ thread_id: 'thread-accept' });
  // Hold MAX_CONNECTIONS idle connections, then open one more and only read from it.
  const script = `python3 - <<'PY'
import socket
held = [socket.create_connection(("${sandboxNet.gateway}", ${proxyPort}), timeout=5) for _ in range(${MAX_CONNECTIONS})]
extra = socket.create_connection(("${sandboxNet.gateway}", ${proxyPort}), timeout=15)
answer = b""
closed = False
for _ in range(50):
    try:
        chunk = extra.recv(4096)
    except socket.timeout:
        break
    if not chunk:
        closed = True
        break
    answer += chunk
print("STATUS", answer.split(b"\\r\\n")[0].decode())
print("REASON", [l for l in answer.decode().split("\\r\\n") if l.lower().startswith("x-paddock-reason")])
print("CLOSED", closed)
PY`;
  const r = await sh(docker, sandbox.container, script);
  assert.match(r.stdout, /STATUS HTTP\/1\.1 429 Too Many Requests/, r.stdout + r.stderr);
  assert.match(r.stdout, /x-paddock-reason: connection-limit/, r.stdout);
  assert.match(r.stdout, /CLOSED True/, r.stdout);
});

test('request head budget: a slowly sent request head (slowloris) and a silent connection get 408 and are closed', async () => {
  await record({ thread_id: 'thread-budget' });
  const before = http.hits('allowed.test');
  // Header lines every 0.3 s that never end the head (slowloris), and a connection that says nothing;
  // both loops are bounded (at most ~24 s) and stop when the proxy closes.
  const script = `python3 - <<'PY'
import socket
def watch(sock, drip):
    sock.settimeout(0.3)
    got = b""
    for i in range(80):
        if drip:
            try:
                sock.sendall(b"X-Slow-%d: 1\\r\\n" % i)
            except OSError:
                return got, "send-failed"
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return got, "reset"
        if not chunk:
            return got, "closed"
        got += chunk
    return got, "still-open"
slow = socket.create_connection(("${sandboxNet.gateway}", ${budgetPort}), timeout=5)
slow.sendall(b"GET http://allowed.test:${http.port}/slowloris HTTP/1.1\\r\\nHost: allowed.test\\r\\nProxy-Authorization: Basic ${basicAuth()}\\r\\n")
got, end = watch(slow, True)
print("SLOW", end, got.split(b"\\r\\n")[0].decode())
silent = socket.create_connection(("${sandboxNet.gateway}", ${budgetPort}), timeout=5)
got, end = watch(silent, False)
print("SILENT", end, got.split(b"\\r\\n")[0].decode())
# A keep-alive connection after a full answer: closed quietly once idle, no 408 after the 200.
kept = socket.create_connection(("${sandboxNet.gateway}", ${budgetPort}), timeout=5)
kept.sendall(b"GET http://allowed.test:${http.port}/kept HTTP/1.1\\r\\nHost: allowed.test\\r\\nProxy-Authorization: Basic ${basicAuth()}\\r\\n\\r\\n")
got, end = watch(kept, False)
print("KEPT", end, got.split(b"\\r\\n")[0].decode(), got.count(b"HTTP/1.1 "))
PY`;
  const r = await sh(docker, sandbox.container, script);
  assert.match(r.stdout, /SLOW (closed|send-failed|reset) HTTP\/1\.1 408 Request Timeout/, r.stdout + r.stderr);
  assert.match(r.stdout, /SILENT closed HTTP\/1\.1 408 Request Timeout/, r.stdout);
  assert.match(r.stdout, /KEPT closed HTTP\/1\.1 200 OK 1\n/, r.stdout);
  assert.equal(http.hits('allowed.test'), before + 1, 'only the kept-alive request went upstream');
  const recs = (await decisions()).filter(
    (d) => d.source === sandbox.address && d.reason === 'request-header-timeout',
  );
  assert.ok(recs.length >= 2 && recs.every((d) => d.status === 408), JSON.stringify(recs));
});

test('upstream answer budget: a plain request to an upstream that never answers gets 504 upstream-timeout', async () => {
  await record({ thread_id: 'thread-budget' });
  const before = http.hits('allowed.test');
  const hung = await curl(docker, sandbox.container, `-x '${budgetProxyUrl}' '${httpUrl('allowed.test', '/hang')}'`);
  assert.equal(hung.status, 504, JSON.stringify(hung));
  assert.equal(hung.reason, 'upstream-timeout');
  assert.equal(http.hits('allowed.test'), before + 1, 'the request did reach the silent upstream');
  const rec = (await decisions()).findLast((d) => d.thread_id === 'thread-budget' && d.kind === 'http');
  assert.equal(rec?.status, 504, JSON.stringify(rec));
});

test("a network review carries the turn's transcript and the triggering command, and writes a review item on the turn", async () => {
  const threadId = `thread-netreview-${++threadCounter}`;
  await record({ thread_id: threadId, escalation: 'guardian', grant_scope: 'once' });
  const issued = await issueExecCredential(redis, {
    sandboxId: SANDBOX_ID,
    execId: 'exec-netreview',
    turnId: 'turn-netreview',
    ttlMs: 600_000,
    review: {
      command: ['npm', 'install', 'left-pad'],
      transcript: [
        { role: 'user', content: 'Add left-pad to the project' },
        { role: 'assistant', content: 'I will install it.' },
      ],
    },
  });
  guardian.mode = 'deny';
  const before = guardian.requests.length;
  const url = httpUrl('other.test', '/netreview');
  const refused = await curl(docker, sandbox.container, `-x '${issued.proxyUrl(sandboxNet.gateway, proxyPort)}' '${url}'`);
  await revokeExecCredential(redis, SANDBOX_ID, issued.token);
  assert.notEqual(refused.status, 200);
  assert.equal(guardian.requests.length, before + 1);
  const req = guardian.requests.at(-1)!;
  assert.deepEqual((req.action as { trigger?: unknown }).trigger, { argv: ['npm', 'install', 'left-pad'] });
  assert.deepEqual(req.transcript.slice(0, 2).map((i) => i.role), ['user', 'assistant']);
  assert.match(req.transcript.at(-1)!.content, /while running the command \["npm","install","left-pad"\]/);
  const entries = await redis.xrange(keys.events(threadId), '-', '+');
  const items = entries.map(([, f]) => JSON.parse(f[f.indexOf('event') + 1]!) as { turn_id?: string; item?: { type: string; outcome?: string } });
  const review = items.find((e) => e.item?.type === 'review');
  assert.equal(review?.turn_id, 'turn-netreview');
  assert.equal(review?.item?.outcome, 'denied');

  // The denial is a thread denial (the worker's breaker counts it); a person approves one retry of it.
  const denials = (await redis.lrange(keys.denials(threadId), 0, -1)).map((raw) => JSON.parse(raw) as DenialRecord);
  const denial = denials.find((x) => x.source === NETWORK_DENIAL_SOURCE);
  assert.ok(denial, 'the network denial is recorded on the thread');
  assert.equal(denial.turn_id, 'turn-netreview');
  assert.equal(typeof (await approveDenial(redis, threadId, denial, 'owner@a.test', 'tenant-a')), 'object');
  const retry = await issueExecCredential(redis, { sandboxId: SANDBOX_ID, execId: 'exec-retry', turnId: 'turn-netreview', ttlMs: 600_000 });
  guardian.mode = 'approve';
  const passed = await curl(docker, sandbox.container, `-x '${retry.proxyUrl(sandboxNet.gateway, proxyPort)}' '${url}'`);
  await revokeExecCredential(redis, SANDBOX_ID, retry.token);
  assert.equal(passed.status, 200, JSON.stringify(passed));
  assert.equal(guardian.requests.at(-1)!.policy_context.user_override?.denial_id, denial.id, 'the retry is reviewed with the override');
});

test('drain: close(drainMs) stops accepting, lets an open tunnel finish its answer, and takes no new connection', async () => {
  await record({ thread_id: `thread-drain-${threadCounter++}` });
  const drainUrl = proxyUrl.replace(`:${proxyPort}`, `:${drainPort}`);
  const via = (url: string) => curl(docker, sandbox.container, `-x '${drainUrl}' -k '${url}'`);
  // A tunnel whose upstream answers late (/slow), open when the drain starts. Waited for at the
  // upstream: an accepted socket whose CONNECT head has not arrived has nothing in flight, and the
  // drain rightly closes it at once.
  const hitsBefore = https.hits('allowed.test');
  const slow = via(`https://allowed.test:${https.port}/slow`);
  await waitFor(async () => https.hits('allowed.test') > hitsBefore, 10_000, 'the tunnelled request to reach the upstream');
  const closing = drainProxy.close(15_000);
  const answered = await slow;
  assert.equal(answered.connectStatus, 200, JSON.stringify(answered));
  assert.equal(answered.status, 200, 'the open tunnel got its whole answer during the drain');
  assert.match(answered.body, /GET \/slow/);
  // Not accepting any more: a new connection is refused (curl exit 7), not served.
  const late = await via(`https://allowed.test:${https.port}/secure`);
  assert.equal(late.status, 0);
  assert.notEqual(late.exit, 0);
  await closing;
  assert.equal(drainProxy.openConnections(), 0);
});
