// The cluster's Redis ACL on a real redis-server: no credentials or a wrong password run nothing,
// and each service's user is refused what only another service (or the operator) may do.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { createLogger } from '@paddock/platform';
import { redactRedisUrl, type RedisServiceUser } from '../src/redis-acl.ts';
import { egressKeys, keys } from '../src/keyspace.ts';
import { type RedisServer, startRedis } from '@paddock/testing';

let redis: RedisServer;
const opened: Redis[] = [];
before(async () => {
  redis = await startRedis({ acl: true });
});
after(async () => {
  for (const c of opened) c.disconnect();
  await redis?.stop();
});

function connect(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false, lazyConnect: true });
  c.on('error', () => {});
  opened.push(c);
  return c;
}
const as = (service: RedisServiceUser) => connect(redis.urlFor(service));

/** Sends inline commands on one fresh connection; returns the first line of each reply. */
function rawCommands(port: number, commands: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no full answer: ${text}`));
    }, 5_000);
    socket.on('error', reject);
    socket.on('data', (b) => {
      text += b.toString();
      const lines = text.split('\r\n').filter((l) => l);
      if (lines.length >= commands.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(lines);
      }
    });
    socket.write(commands.map((c) => `${c}\r\n`).join(''));
  });
}

/** The code of the error a client at `url` is refused with at connect. */
async function refusal(url: string): Promise<string> {
  const c = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  opened.push(c);
  let first: string | undefined;
  c.on('error', (err: Error) => {
    first ??= err.message.split(' ')[0];
  });
  await c.connect().then(
    () => assert.fail(`connected to ${url} without valid credentials`),
    () => undefined,
  );
  return first ?? 'none';
}

/** The error code Redis answered with (NOAUTH, WRONGPASS, NOPERM...), or 'OK' when it ran. */
async function answer(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'OK';
  } catch (err) {
    return String((err as Error).message).split(' ')[0]!;
  }
}

test('Redis without credentials refused: no password gets NOAUTH, a wrong one WRONGPASS, on any command', async () => {
  // Plain RESP over a socket, so no client library decides what is sent first.
  const replies = await rawCommands(redis.port, ['PING', 'GET paddock:ws:x', 'SET k v', 'FLUSHALL', 'HELLO 3']);
  assert.equal(replies.length, 5, replies.join('|'));
  for (const reply of replies) assert.match(reply, /^-NOAUTH/);
  // Through ioredis: refused at the handshake, and the connection is closed.
  assert.equal(await refusal(`redis://127.0.0.1:${redis.port}`), 'NOAUTH');
  assert.equal(await refusal(`redis://orchestrator:not-the-password@127.0.0.1:${redis.port}`), 'WRONGPASS');
  // The default user is off even when named explicitly.
  assert.equal(await refusal(`redis://default:x@127.0.0.1:${redis.port}`), 'WRONGPASS');
  assert.equal((await rawCommands(redis.port, ['AUTH default x']))[0]?.slice(0, 10), '-WRONGPASS');
  // Nothing was written by the refused clients.
  assert.equal(await redis.client().exists('k'), 0);
});

test("the egress proxy's user cannot FLUSHALL, CONFIG, write the turn queue or forge a sandbox identity", async () => {
  const admin = redis.client();
  await admin.set(egressKeys.sandbox('sbx-1'), '{"sandbox_id":"sbx-1"}');
  await admin.set(keys.token('tok-1'), 'hash');
  const proxy = as('egress-proxy');
  await proxy.connect();
  // What the proxy does need works.
  assert.equal(await proxy.get(egressKeys.sandbox('sbx-1')), '{"sandbox_id":"sbx-1"}');
  assert.equal(await answer(() => proxy.xadd(keys.events('thr-1'), '*', 'event', '{}')), 'OK');
  assert.equal(await answer(() => proxy.hincrby(egressKeys.sandboxBytes('sbx-1'), 'bytes_in', 1)), 'OK');
  // What it must not.
  assert.equal(await answer(() => proxy.flushall()), 'NOPERM');
  assert.equal(await answer(() => proxy.config('GET', '*')), 'NOPERM');
  assert.equal(await answer(() => proxy.config('SET', 'appendonly', 'no')), 'NOPERM');
  assert.equal(await answer(() => proxy.call('KEYS', '*')), 'NOPERM');
  assert.equal(await answer(() => proxy.lpush('bull:paddock-turns:wait', 'job')), 'NOPERM');
  assert.equal(await answer(() => proxy.set(egressKeys.sandbox('sbx-1'), '{"policy":"full"}')), 'NOPERM');
  assert.equal(await answer(() => proxy.get(keys.token('tok-1'))), 'NOPERM');
  assert.equal(await answer(() => proxy.eval("return redis.call('SET', KEYS[1], 'x')", 1, 'bull:paddock-turns:x')), 'NOPERM');
  assert.equal(await answer(() => proxy.call('SCRIPT', 'FLUSH')), 'NOPERM');
  assert.equal(await answer(() => proxy.call('ACL', 'LIST')), 'NOPERM');
  // The refused writes left nothing.
  assert.equal(await admin.exists('bull:paddock-turns:wait'), 0);
  assert.equal(await admin.get(egressKeys.sandbox('sbx-1')), '{"sandbox_id":"sbx-1"}');
  assert.equal(await admin.dbsize(), 4); // sandbox, token, the events stream and the byte counter
});

test("the sandbox worker's user reaches the turn queue but not tokens, members or server commands", async () => {
  const admin = redis.client();
  await admin.hset(keys.members('ws-1'), 'mem-1', 'owner');
  const worker = as('sandbox-worker');
  await worker.connect();
  assert.equal(await answer(() => worker.lpush('bull:paddock-turns:wait', 'job')), 'OK');
  assert.equal(await answer(() => worker.set(keys.turn('turn-1'), '{}')), 'OK');
  assert.equal(await answer(() => worker.publish('paddock:turns:interrupt', 'turn-1')), 'OK');
  assert.equal(await answer(() => worker.get(keys.token('tok-1'))), 'NOPERM');
  assert.equal(await answer(() => worker.set(keys.token('tok-2'), 'forged')), 'NOPERM');
  assert.equal(await answer(() => worker.hgetall(keys.members('ws-1'))), 'NOPERM');
  assert.equal(await answer(() => worker.flushdb()), 'NOPERM');
  assert.equal(await answer(() => worker.config('GET', 'appendonly')), 'NOPERM');
  assert.equal(await admin.exists(keys.token('tok-2')), 0);
});

test("the orchestrator's user reads CONFIG but cannot change it, flush, or reach keys outside the cluster's", async () => {
  const orch = as('orchestrator');
  await orch.connect();
  assert.equal(await answer(() => orch.config('GET', 'appendonly')), 'OK');
  assert.equal(await answer(() => orch.config('SET', 'appendonly', 'no')), 'NOPERM');
  assert.equal(await answer(() => orch.flushall()), 'NOPERM');
  assert.equal(await answer(() => orch.call('SHUTDOWN')), 'NOPERM');
  assert.equal(await answer(() => orch.set('other-app:key', 'x')), 'NOPERM');
  assert.equal(await answer(() => orch.get(keys.token('tok-1'))), 'OK');
  // The sandboxes' egress identities and credentials are the worker's and the proxy's.
  assert.equal(await answer(() => orch.get(egressKeys.execCredential('sbx-1', 'ab'))), 'NOPERM');
  assert.equal(await answer(() => orch.set(egressKeys.sandbox('sbx-1'), '{"policy":"full"}')), 'NOPERM');
});

test('under the ACL, with AOF on, transactions and scripts written by a service survive a restart', async () => {
  const durable = await startRedis({ appendonly: true, acl: true });
  const orch = new Redis(durable.urlFor('orchestrator'), { maxRetriesPerRequest: null });
  orch.on('error', () => {});
  try {
    await orch.multi().set(keys.token('tok-d'), 'kept').zadd(keys.workspaceTokens('ws-d'), 1, 'tok-d').exec();
    await orch.eval("redis.call('SET', KEYS[1], 'scripted'); return 1", 1, keys.turn('turn-d'));
    await durable.restart();
    const admin = durable.client();
    assert.equal(await admin.get(keys.token('tok-d')), 'kept');
    assert.equal(await admin.zscore(keys.workspaceTokens('ws-d'), 'tok-d'), '1');
    assert.equal(await admin.get(keys.turn('turn-d')), 'scripted');
    // And `default` is still refused after the restart.
    assert.match((await rawCommands(durable.port, ['GET ' + keys.token('tok-d')]))[0]!, /^-NOAUTH/);
  } finally {
    orch.disconnect();
    await durable.stop();
  }
});

test('a Redis URL in a log line has its password cut out', () => {
  const url = redis.urlFor('orchestrator');
  assert.match(url, /^redis:\/\/orchestrator:[^@]+@127\.0\.0\.1:\d+$/);
  const shown = redactRedisUrl(url);
  assert.equal(shown, `redis://orchestrator:***@127.0.0.1:${redis.port}`);
  assert.ok(!shown.includes(redis.passwords!.orchestrator));
  // And a settings object logged whole keeps it out too.
  let logged = '';
  const logger = createLogger('acl-test', 'info', { write: (line: string) => void (logged += line) });
  logger.info({ redisUrl: url, settings: { redisUrl: url, serviceToken: 'svc-secret-value' } }, 'starting');
  assert.match(logged, /starting/);
  assert.ok(!logged.includes(redis.passwords!.orchestrator), logged);
  assert.ok(!logged.includes('svc-secret-value'), logged);
});
