// Sandbox lifecycle against real Docker and Redis: hardened profile, reuse per thread, the warm
// pool's atomic claim, release and idle TTL, per-exec proxy credentials, and the reaper.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { firewalledNetworks } from '../src/sandbox-network.ts';
import { egressKeys, LABEL, sandboxKeys } from '@paddock/contracts';
import { tokenSha256 } from '../src/egress-store.ts';
import { waitFor } from '@paddock/testing';
import type { Redis } from 'ioredis';
import { poolKey } from '../src/container-spec.ts';
import { reap } from '../src/reaper.ts';
import { type EgressSettings, SandboxManager, type SandboxManagerOptions } from '../src/sandbox-manager.ts';
import { cleanup, type Fixture, fixture, sh } from './helpers.ts';

let fx: Fixture;
let redis: Redis;

after(cleanup);
before(async () => {
  fx = await fixture('sbx-lifecycle');
  redis = fx.redis.client();
});

function manager(workerId: string, opts: Partial<SandboxManagerOptions> = {}): SandboxManager {
  return new SandboxManager({
    docker: fx.docker,
    redis,
    workerId,
    network: fx.network,
    runtime: fx.runtime,
    defaultShape: fx.shape,
    warmPoolSize: 0,
    idleTtlMs: 60_000,
    execTimeoutMs: 10_000,
    maxOutputBytes: 65_536,
    scope: fx.run.labels,
    ...opts,
  });
}
const lease = (workerId: string) => redis.set(sandboxKeys.workerLease(workerId), '1', 'PX', 300_000);
const containersOf = async (label: string) =>
  fx.docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [label, `${LABEL.managed}=true`] }),
  });

describe('a thread sandbox', () => {
  test('is created hardened, labelled, and reused on the next turn (also by another worker)', async () => {
    await lease('w-life-1');
    await lease('w-life-2');
    const m1 = manager('w-life-1');
    const m2 = manager('w-life-2');
    try {
      const ref = { workspace: 'tenant-a', thread: 'thread-reuse' };
      const first = await m1.forThread(ref);
      assert.equal(first.source, 'cold');
      const info = await first.sandbox.container.inspect();
      const hc = info.HostConfig;
      assert.equal(hc.ReadonlyRootfs, true);
      assert.deepEqual(hc.CapDrop, ['ALL']);
      assert.deepEqual(hc.SecurityOpt, ['no-new-privileges:true']);
      assert.equal(hc.Privileged, false);
      // Docker's own init, not the image's tini: PID 1 is docker-init running our command.
      assert.equal(hc.Init, true);
      assert.deepEqual(info.Config.Cmd, ['sleep', 'infinity']);
      assert.equal(hc.PidsLimit, fx.shape.limits.pids);
      assert.equal(hc.Memory, fx.shape.limits.memoryMb * 1024 * 1024);
      assert.equal(hc.MemorySwap, hc.Memory);
      assert.equal(hc.NanoCpus, fx.shape.limits.cpus * 1e9);
      assert.match(String(hc.Tmpfs?.['/tmp']), new RegExp(`size=${fx.shape.limits.tmpMb}m`));
      assert.deepEqual(hc.Dns, ['127.0.0.1']);
      assert.equal(info.Config.User, '1000:1000');
      assert.equal(info.Config.Labels[LABEL.workspace], 'tenant-a');
      assert.equal(info.Config.Labels[LABEL.thread], 'thread-reuse');
      assert.equal(info.Config.Labels[LABEL.sandbox], first.sandbox.id);
      assert.equal(info.Config.Labels[LABEL.worker], 'w-life-1');
      assert.ok(!(info.HostConfig.Binds ?? []).some((b) => b.includes('docker.sock')));

      await m1.exec(first.sandbox, { argv: sh('echo turn1 > note.txt'), mode: 'workspace-write' });
      const again = await m1.forThread(ref);
      assert.equal(again.source, 'reused');
      assert.equal(again.sandbox.id, first.sandbox.id);
      // Another worker (or this one after a restart) finds it through Redis and attaches.
      const elsewhere = await m2.forThread(ref);
      assert.equal(elsewhere.source, 'reused');
      assert.equal(elsewhere.sandbox.id, first.sandbox.id);
      const r = await m2.exec(elsewhere.sandbox, { argv: ['cat', 'note.txt'], mode: 'read-only' });
      assert.equal(r.stdout.text, 'turn1\n');
      assert.equal(await redis.hget(sandboxKeys.sandbox(first.sandbox.id), 'owner'), 'w-life-2');
    } finally {
      await m1.close();
      await m2.close();
    }
  });

  test('release destroys the container, its volume and its Redis records; idle TTL stops the container and keeps the workspace', async () => {
    await lease('w-life-3');
    const m = manager('w-life-3', { idleTtlMs: 1_000 });
    try {
      const ref = { workspace: 'tenant-a', thread: 'thread-release' };
      const { sandbox } = await m.forThread(ref);
      assert.equal((await containersOf(`${LABEL.sandbox}=${sandbox.id}`)).length, 1);
      assert.equal(await redis.get(egressKeys.source(fx.network.name, sandbox.ip)), sandbox.id);
      assert.equal(await m.release(ref), true);
      assert.equal((await containersOf(`${LABEL.sandbox}=${sandbox.id}`)).length, 0);
      await assert.rejects(fx.docker.getVolume(sandbox.volumeName).inspect(), /404|no such volume/i);
      assert.equal(await redis.get(sandboxKeys.threadSandbox(ref.workspace, ref.thread)), null);
      assert.equal(await redis.exists(sandboxKeys.sandbox(sandbox.id)), 0);
      assert.equal(await redis.get(egressKeys.source(fx.network.name, sandbox.ip)), null);
      assert.equal(await redis.exists(egressKeys.sandbox(sandbox.id)), 0);

      // Idle: the container is stopped (removed), the workspace kept; the next use re-creates the
      // container on that same workspace, files and all.
      const idleRef = { workspace: 'tenant-a', thread: 'thread-idle' };
      const idle = await m.forThread(idleRef);
      await idle.sandbox.writeFile('kept.txt', 'still here');
      assert.equal(await m.sweepIdle(Date.now()), 0, 'not idle yet');
      assert.equal(await m.sweepIdle(Date.now() + 1_500), 1);
      assert.equal((await containersOf(`${LABEL.sandbox}=${idle.sandbox.id}`)).length, 0);
      await fx.docker.getVolume(idle.sandbox.volumeName).inspect(); // the workspace is kept
      assert.equal(await redis.get(sandboxKeys.threadSandbox(idleRef.workspace, idleRef.thread)), idle.sandbox.id);
      assert.equal(await redis.hget(sandboxKeys.sandbox(idle.sandbox.id), 'state'), 'stopped');
      const again = await m.forThread(idleRef);
      assert.equal(again.source, 'resumed');
      assert.equal(again.sandbox.id, idle.sandbox.id);
      assert.notEqual(again.sandbox.containerId, idle.sandbox.containerId);
      assert.equal((await again.sandbox.readFile('kept.txt')).toString(), 'still here');
      assert.equal(await m.release(idleRef), true);
      await assert.rejects(fx.docker.getVolume(idle.sandbox.volumeName).inspect(), /404|no such volume/i);
      // A thread closed while its workspace is stopped: the workspace goes too.
      const stoppedRef = { workspace: 'tenant-a', thread: 'thread-stopped' };
      const stopped = await m.forThread(stoppedRef);
      assert.equal(await m.sweepIdle(Date.now() + 1_500), 1);
      assert.equal(await m.release(stoppedRef), true);
      await assert.rejects(fx.docker.getVolume(stopped.sandbox.volumeName).inspect(), /404|no such volume/i);
      assert.equal(await redis.exists(sandboxKeys.sandbox(stopped.sandbox.id)), 0);
    } finally {
      await m.close();
    }
  });

  test('a networked exec gets HTTP(S)_PROXY with its own credential, valid only while it runs', async () => {
    await lease('w-life-4');
    const m = manager('w-life-4');
    try {
      const ref = { workspace: 'tenant-n', thread: 'thread-net' };
      const egress: EgressSettings = {
        policy: { mode: 'allowlist', allowed_domains: ['example.com'], denied_domains: [] },
        escalation: 'none',
        grant_scope: 'once',
        policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'on-request' },
      };
      const { sandbox } = await m.forThread(ref, { egress });
      assert.equal(await redis.get(egressKeys.source(fx.network.name, sandbox.ip)), sandbox.id);
      const record = JSON.parse((await redis.get(egressKeys.sandbox(sandbox.id)))!);
      assert.deepEqual(
        { ...record, updated_at_ms: undefined },
        {
          ...egress,
          sandbox_id: sandbox.id,
          tenant: 'tenant-n',
          thread_id: 'thread-net',
          network: fx.network.name,
          address: sandbox.ip,
          updated_at_ms: undefined,
        },
      );
      const running = m.exec(sandbox, {
        argv: sh('echo "$HTTP_PROXY|$HTTPS_PROXY|$NO_PROXY"; sleep 1'),
        mode: 'read-only',
        network: true,
      });
      let seen: string[] = [];
      await waitFor(
        async () => {
          seen = await redis.keys(egressKeys.execCredential(sandbox.id, '*'));
          return seen.length === 1;
        },
        5_000,
        'the exec credential',
      );
      const r = await running;
      const [httpProxy, httpsProxy, noProxy] = r.stdout.text.trim().split('|');
      const token = /^http:\/\/[^:]+:([^@]+)@/.exec(httpProxy ?? '')?.[1] ?? '';
      assert.equal(httpProxy, `http://${sandbox.id}:${token}@${fx.network.gateway}:${fx.proxyPort}`);
      assert.equal(seen[0], egressKeys.execCredential(sandbox.id, tokenSha256(token)), 'stored under its hash');
      assert.equal(httpsProxy, httpProxy);
      assert.match(noProxy!, /localhost/);
      assert.deepEqual(
        await redis.keys(egressKeys.execCredential(sandbox.id, '*')),
        [],
        'revoked after the exec',
      );
      const plain = await m.exec(sandbox, { argv: sh('echo "[$HTTP_PROXY]"'), mode: 'read-only' });
      assert.equal(plain.stdout.text, '[]\n', 'no proxy for an exec without network');
    } finally {
      await m.close();
    }
  });
});

describe('the warm pool', () => {
  test('is topped up to its size and claimed atomically: two workers never get the same sandbox', async () => {
    await lease('w-pool-1');
    await lease('w-pool-2');
    const m1 = manager('w-pool-1', { warmPoolSize: 3 });
    const m2 = manager('w-pool-2', { warmPoolSize: 3 });
    try {
      await m1.pool.topUp(fx.shape);
      assert.equal(await redis.llen(sandboxKeys.warmPool(poolKey(fx.shape))), 3);
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? m1 : m2).pool.claim(fx.shape)),
      );
      const ids = claims.filter((s) => s !== undefined).map((s) => s.id);
      assert.equal(ids.length, 3);
      assert.equal(new Set(ids).size, 3);
      // A sandbox claimed from another worker's pool works through the claimer's own agent session.
      for (const s of claims)
        if (s) assert.equal((await s.exec({ argv: ['true'], mode: 'read-only' })).exitCode, 0);
      for (const s of claims) if (s) s.close();
    } finally {
      await m1.close();
      await m2.close();
    }
  });
});

describe('the reaper', () => {
  test("removes what a SIGKILLed worker left once its lease lapses, and nothing of a live worker's", async () => {
    await lease('w-live');
    const live = manager('w-live');
    const leaseMs = 2_000;
    const child = spawn(process.execPath, ['services/sandbox-worker/test/fixtures/doomed-worker.ts'], {
      env: {
        ...process.env,
        WORKER_ID: `w-doomed-${fx.run.runId}`,
        SCOPE: JSON.stringify(fx.run.labels),
        REDIS_URL: fx.redis.url,
        LEASE_MS: String(leaseMs),
        SHAPE: JSON.stringify(fx.shape),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const liveSandbox = (await live.forThread({ workspace: 'tenant-live', thread: 'survivor' })).sandbox;
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      const doomed = JSON.parse(line) as { network: string; sandbox: string };
      assert.ok((await firewalledNetworks()).includes(doomed.network));
      const owned = await containersOf(`${LABEL.worker}=w-doomed-${fx.run.runId}`);
      assert.equal(owned.length, 2, 'a thread sandbox and a warm one');
      child.kill('SIGKILL');
      await once(child, 'exit');

      const early = await reap({ docker: fx.docker, redis, scope: fx.run.labels });
      assert.deepEqual(early, { containers: 0, volumes: 0, networks: 0, disks: 0 }, 'the lease has not lapsed yet');
      await new Promise((r) => setTimeout(r, leaseMs + 200));
      // The live worker reaps: both containers and the warm volume go; the thread's workspace is kept
      // and adopted by the live worker.
      const swept = await reap({ docker: fx.docker, redis, scope: fx.run.labels, selfWorkerId: 'w-live' });
      assert.deepEqual(swept, { containers: 2, volumes: 1, networks: 1, disks: 0 });
      assert.equal((await containersOf(`${LABEL.worker}=w-doomed-${fx.run.runId}`)).length, 0);
      await assert.rejects(fx.docker.getNetwork(doomed.network).inspect(), /404|not found/i);
      assert.ok(!(await firewalledNetworks()).includes(doomed.network), 'its firewall rules went with it');
      assert.equal(await redis.get(sandboxKeys.threadSandbox('tenant-doomed', 'thread-1')), doomed.sandbox);
      assert.equal(await redis.hget(sandboxKeys.sandbox(doomed.sandbox), 'owner'), 'w-live');
      assert.equal(await redis.hget(sandboxKeys.sandbox(doomed.sandbox), 'state'), 'stopped');
      // Its next use gets a new container on that same workspace.
      const adopted = await live.forThread({ workspace: 'tenant-doomed', thread: 'thread-1' });
      assert.equal(adopted.source, 'resumed');
      assert.equal(adopted.sandbox.id, doomed.sandbox);
      assert.equal(await live.release({ workspace: 'tenant-doomed', thread: 'thread-1' }), true);
      // The live worker's sandbox is untouched and still works.
      const r = await live.exec(liveSandbox, { argv: ['echo', 'alive'], mode: 'read-only' });
      assert.equal(r.stdout.text, 'alive\n');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await live.close();
    }
  });

  test("never reaps its own worker's sandboxes, even when Redis lost their lease; a missing lease waits a grace", async () => {
    await lease('w-self');
    const m = manager('w-self');
    try {
      const { sandbox } = await m.forThread({ workspace: 'tenant-self', thread: 'mine' });
      // As after a Redis outage that lost the data: no lease, no record.
      await redis.del(sandboxKeys.workerLease('w-self'), sandboxKeys.sandbox(sandbox.id));
      const asSelf = await reap({ docker: fx.docker, redis, scope: fx.run.labels, selfWorkerId: 'w-self', holds: (id) => m.holds(id) });
      assert.equal(asSelf.containers, 0, 'its own process holds it');
      // Another worker's reaper, with a grace of a lease: the first pass that sees the lease missing keeps it.
      const deadSince = new Map<string, number>();
      const other = { docker: fx.docker, redis, scope: fx.run.labels, selfWorkerId: 'w-other', ownerDeadGraceMs: 60_000, deadSince };
      assert.equal((await reap(other)).containers, 0, 'within the grace');
      assert.equal((await containersOf(`${LABEL.sandbox}=${sandbox.id}`)).length, 1);
      assert.equal((await m.exec(sandbox, { argv: ['true'], mode: 'read-only' })).exitCode, 0);
      // The lease is back (the worker refreshes it): the clock of missing starts over.
      await lease('w-self');
      await reap(other);
      assert.equal(deadSince.has('w-self'), false);
    } finally {
      await m.close();
    }
  });

  test('removes a sandbox past its wall-clock lifetime even when its owner is alive', async () => {
    await lease(fx.workerId);
    const s = await fx.sandbox({ lifetimeMs: 60_000 });
    assert.deepEqual(await reap({ docker: fx.docker, redis, scope: fx.run.labels }), {
      containers: 0,
      volumes: 0,
      networks: 0,
      disks: 0,
    });
    const swept = await reap({ docker: fx.docker, redis, scope: fx.run.labels, now: Date.now() + 61_000 });
    assert.equal(swept.containers, 1);
    assert.equal((await containersOf(`${LABEL.sandbox}=${s.id}`)).length, 0);
    s.close();
  });
});
