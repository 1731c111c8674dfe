// The proxy's identity cache keeps decisions correct: repeated requests are decided without a
// Redis read (MGET count unchanged), and a revoked credential, a changed policy or a removed sandbox
// applies to the very next request. Real Redis with the cluster's ACL (the proxy as its own user).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'node:http';
import { createLogger } from '@paddock/platform';
import { createGuardianClient, REASON_HEADER, type SandboxEgressRecord } from '@paddock/contracts';
import {
  issueExecCredential,
  putSandboxEgress,
  removeSandboxEgress,
  revokeExecCredential,
} from '@paddock/sandbox-worker';
import { type RedisServer, startRedis, waitFor } from '@paddock/testing';
import { Redis } from 'ioredis';
import { createEgressProxy, type EgressProxy } from '../src/proxy-server.ts';
import { createResolver } from '../src/resolver.ts';
import { startHttpUpstream, type Upstream } from './support/upstreams.ts';

const HOST = 'cached.test';
const SANDBOX_ID = 'sbx-cache';
let redisServer: RedisServer;
let admin: Redis;
let proxyRedis: Redis;
let proxy: EgressProxy;
let proxyPort: number;
let upstream: Upstream;

const record = (allowed: string[]): SandboxEgressRecord => ({
  sandbox_id: SANDBOX_ID,
  tenant: 'ws-cache',
  thread_id: 'th-cache',
  network: 'host',
  address: '127.0.0.1',
  policy: { mode: 'allowlist', allowed_domains: allowed, denied_domains: [], allowed_ports: [upstream.port] },
  escalation: 'none',
  grant_scope: 'once',
  policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'never' },
});

/** One GET through the proxy as the sandbox at 127.0.0.1: the status and the refusal reason. */
function get(token: string): Promise<{ status: number; reason: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path: `http://${HOST}:${upstream.port}/`,
        headers: {
          host: `${HOST}:${upstream.port}`,
          'proxy-authorization': `Basic ${Buffer.from(`${SANDBOX_ID}:${token}`).toString('base64')}`,
          connection: 'close',
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, reason: res.headers[REASON_HEADER] as string | undefined }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function mgetCalls(): Promise<number> {
  const stats = await admin.info('commandstats');
  return Number(/cmdstat_mget:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

before(async () => {
  redisServer = await startRedis({ acl: true });
  admin = redisServer.client();
  upstream = await startHttpUpstream('127.0.0.1');
  proxyRedis = new Redis(redisServer.urlFor('egress-proxy'), { maxRetriesPerRequest: null });
  proxy = createEgressProxy({
    redis: proxyRedis,
    guardian: createGuardianClient({ url: 'http://127.0.0.1:9', serviceToken: `t-${'0'.repeat(40)}` }),
    lookup: createResolver({ hosts: { [HOST]: ['127.0.0.1'] }, useDns: false }),
    logger: createLogger('egress-proxy-test', 'silent'),
    options: { allowedPrivateRanges: ['127.0.0.1/32'] },
  });
  proxyPort = await proxy.listen({ network: 'host', host: '127.0.0.1', port: 0 });
  await waitFor(() => proxy.identityCacheLive(), 10_000, 'identity cache subscription');
});

after(async () => {
  await proxy?.close();
  proxyRedis?.disconnect();
  await upstream?.close();
  await redisServer?.stop();
});

test('repeated requests are decided from the cache; a revocation refuses the next request', async () => {
  const worker = new Redis(redisServer.urlFor('sandbox-worker'), { maxRetriesPerRequest: null });
  try {
    await putSandboxEgress(worker, record([HOST]));
    const { token } = await issueExecCredential(worker, { sandboxId: SANDBOX_ID, execId: 'ex-1', ttlMs: 60_000 });
    assert.equal((await get(token)).status, 200);
    const readsBefore = await mgetCalls();
    for (let i = 0; i < 20; i++) assert.equal((await get(token)).status, 200);
    assert.equal(await mgetCalls(), readsBefore, 'cached identities need no Redis read');

    await revokeExecCredential(worker, SANDBOX_ID, token);
    assert.deepEqual(await get(token), { status: 403, reason: 'stale-credential' });
  } finally {
    worker.disconnect();
  }
});

test('a policy change and a removed sandbox apply to the next request', async () => {
  const worker = new Redis(redisServer.urlFor('sandbox-worker'), { maxRetriesPerRequest: null });
  try {
    await putSandboxEgress(worker, record([HOST]));
    const { token } = await issueExecCredential(worker, { sandboxId: SANDBOX_ID, execId: 'ex-2', ttlMs: 60_000 });
    assert.equal((await get(token)).status, 200);
    assert.equal((await get(token)).status, 200);

    await putSandboxEgress(worker, record(['other.test']));
    assert.deepEqual(await get(token), { status: 403, reason: 'blocked-by-allowlist' });

    await putSandboxEgress(worker, record([HOST]));
    assert.equal((await get(token)).status, 200);
    await removeSandboxEgress(worker, { sandbox_id: SANDBOX_ID, network: 'host', address: '127.0.0.1' });
    assert.deepEqual(await get(token), { status: 403, reason: 'unknown-source' });
  } finally {
    worker.disconnect();
  }
});

test('a lost subscription drops every cached identity (invalidations may have been missed)', async () => {
  const worker = new Redis(redisServer.urlFor('sandbox-worker'), { maxRetriesPerRequest: null });
  try {
    await putSandboxEgress(worker, record([HOST]));
    const { token } = await issueExecCredential(worker, { sandboxId: SANDBOX_ID, execId: 'ex-3', ttlMs: 60_000 });
    assert.equal((await get(token)).status, 200);
    assert.equal((await get(token)).status, 200);
    // Cut the proxy's connections, then change the record without a publish (as if the message
    // was lost with the connection): a cache kept across the reconnect would still allow.
    await admin.call('CLIENT', 'KILL', 'USER', 'egress-proxy');
    const changed = { ...record(['other.test']), updated_at_ms: Date.now() };
    await admin.set(`paddock:egress:sandbox:${SANDBOX_ID}`, JSON.stringify(changed));
    await waitFor(() => proxy.identityCacheLive(), 10_000, 'subscription restored');
    assert.deepEqual(await get(token), { status: 403, reason: 'blocked-by-allowlist' });
  } finally {
    worker.disconnect();
  }
});
