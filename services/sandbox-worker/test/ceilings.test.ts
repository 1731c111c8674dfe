// Resource ceilings against real Docker and Redis: a workspace's disk quota (ENOSPC inside that
// sandbox only, the sandbox user owns it, the loop device and image go with the sandbox or with the
// reaper), and the worker refusing a sandbox from an image off the allowlist.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LABEL, sandboxKeys } from '@paddock/contracts';
import { LOCAL_DEBIAN_BASE } from '@paddock/platform';
import type { Redis } from 'ioredis';
import { reap } from '../src/reaper.ts';
import { createSandbox, destroySandbox, type Sandbox } from '../src/sandbox.ts';
import { SandboxManager } from '../src/sandbox-manager.ts';
import { loopDevicesUnavailable } from '../src/workspace-disk.ts';
import { cleanup, type Fixture, fixture, SMALL_LIMITS, sh } from './helpers.ts';

const QUOTA_MB = 24;
let fx: Fixture;
let redis: Redis;
let dataDir: string;
const made: Sandbox[] = [];

/** Loop devices backed by files under `dir` (what the quota attached). */
function loopsUnder(dir: string): string[] {
  const out = execFileSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([name, file]) => name && file?.startsWith(dir))
    .map(([name]) => name!);
}
const imagesUnder = (dir: string) =>
  existsSync(join(dir, 'workspaces')) ? readdirSync(join(dir, 'workspaces')).filter((n) => n.endsWith('.img')) : [];

before(async () => {
  fx = await fixture('sbx-ceilings');
  redis = fx.redis.client();
  dataDir = mkdtempSync(join(tmpdir(), `pdk-ceilings-${fx.run.runId}-`));
  await redis.set(sandboxKeys.workerLease(fx.workerId), '1', 'PX', 600_000); // this suite's worker is alive
});
after(async () => {
  for (const s of made) await destroySandbox(fx.docker, s).catch(() => {});
  await cleanup(); // containers and volumes of this run first: then nothing holds the loop devices
  for (const dev of loopsUnder(dataDir)) execFileSync('losetup', ['--detach', dev]);
  rmSync(dataDir, { recursive: true, force: true });
});

async function quotaSandbox(workerId = fx.workerId): Promise<Sandbox> {
  const s = await createSandbox(fx.docker, {
    shape: { image: fx.image, limits: { ...SMALL_LIMITS, workspaceDiskMb: QUOTA_MB } },
    network: fx.network,
    runtime: fx.runtime,
    workerId,
    tenant: 'tenant-a',
    thread: `thread-${Math.random().toString(36).slice(2, 8)}`,
    scope: fx.run.labels,
    dataDir,
  } as Parameters<typeof createSandbox>[1]);
  made.push(s);
  return s;
}

describe('workspace disk quota', () => {
  test('the start-up probe attaches and detaches a trial image here, and leaves nothing behind', async () => {
    assert.equal(await loopDevicesUnavailable(dataDir), undefined);
    assert.deepEqual(loopsUnder(dataDir), []);
    assert.deepEqual(readdirSync(join(dataDir, 'workspaces')), []);
  });

  test('writing past the quota fails with ENOSPC in that sandbox; the host and another sandbox are untouched', async () => {
    const full = await quotaSandbox();
    const other = await quotaSandbox();
    const owner = await full.exec({ argv: sh('stat -c %u:%g /workspace; ls -A /workspace; touch /workspace/mine && echo writable'), mode: 'workspace-write' });
    assert.equal(owner.stdout.text, '1000:1000\nwritable\n', 'the sandbox user owns an empty, writable workspace');

    const flood = await full.exec(
      { argv: sh(`dd if=/dev/zero of=/workspace/big bs=1M count=${QUOTA_MB * 3}`), mode: 'workspace-write', timeoutMs: 60_000 },
    );
    assert.notEqual(flood.exitCode, 0);
    assert.match(flood.stderr.text, /No space left on device/);
    const used = await full.exec({ argv: sh('stat -c %s /workspace/big'), mode: 'read-only' });
    assert.ok(Number(used.stdout.text) <= QUOTA_MB * 1024 * 1024, `${used.stdout.text.trim()} bytes written`);

    // The host: the sandbox's bytes went into its own image, which never grows past the quota.
    const [image] = imagesUnder(dataDir).filter((n) => n.startsWith(full.id));
    assert.ok(image, 'the workspace image is under the data dir');
    const st = statSync(join(dataDir, 'workspaces', image));
    assert.equal(st.size, QUOTA_MB * 1024 * 1024);
    assert.ok(st.blocks * 512 <= QUOTA_MB * 1024 * 1024);

    // Another sandbox still writes.
    const wrote = await other.exec({ argv: sh('dd if=/dev/zero of=/workspace/ok bs=1M count=4 status=none && echo ok'), mode: 'workspace-write' });
    assert.equal(wrote.exitCode, 0, wrote.stderr.text);
    assert.equal(wrote.stdout.text, 'ok\n');
  });

  test('a warm sandbox has its quota too, and the thread that claims it keeps it; release detaches it', async () => {
    const shape = { image: fx.image, limits: { ...SMALL_LIMITS, workspaceDiskMb: QUOTA_MB } };
    const manager = new SandboxManager({
      docker: fx.docker,
      redis,
      workerId: fx.workerId,
      network: fx.network,
      runtime: fx.runtime,
      defaultShape: shape,
      warmPoolSize: 1,
      idleTtlMs: 60_000,
      execTimeoutMs: 30_000,
      maxOutputBytes: 65_536,
      scope: fx.run.labels,
      dataDir,
    });
    try {
      await manager.pool.topUp(shape);
      const ref = { workspace: 'tenant-a', thread: 'thread-warm-quota' };
      const { sandbox, source } = await manager.forThread(ref);
      assert.equal(source, 'warm');
      const df = await manager.exec(sandbox, { argv: sh("df -k --output=size /workspace | tail -1"), mode: 'read-only' });
      const sizeKb = Number(df.stdout.text.trim());
      assert.ok(sizeKb > 0 && sizeKb <= QUOTA_MB * 1024, `workspace of ${sizeKb} KiB`);
      const flood = await manager.exec(sandbox, {
        argv: sh(`dd if=/dev/zero of=/workspace/big bs=1M count=${QUOTA_MB * 2}`),
        mode: 'workspace-write',
      });
      assert.match(flood.stderr.text, /No space left on device/);
      const imagePath = join(dataDir, 'workspaces', `${sandbox.id}.img`);
      assert.equal(loopsUnder(imagePath).length, 1);
      await manager.release(ref);
      assert.deepEqual(loopsUnder(imagePath), []);
      assert.equal(existsSync(imagePath), false);
    } finally {
      await manager.close();
    }
  });

  test('destroying the sandbox detaches its loop device and deletes its image', async () => {
    const s = await quotaSandbox();
    const [image] = imagesUnder(dataDir).filter((n) => n.startsWith(s.id));
    assert.ok(image);
    const imagePath = join(dataDir, 'workspaces', image);
    assert.equal(loopsUnder(imagePath).length, 1, 'attached while the sandbox lives');
    await destroySandbox(fx.docker, s);
    assert.deepEqual(loopsUnder(imagePath), []);
    assert.equal(existsSync(imagePath), false);
    assert.equal(existsSync(`${imagePath}.json`), false);
  });

  test("the reaper detaches and deletes a dead worker's disks, also one left without a volume, and only its scope's", async () => {
    const deadWorker = `w-dead-${fx.run.runId}`;
    const s = await quotaSandbox(deadWorker);
    const [image] = imagesUnder(dataDir).filter((n) => n.startsWith(s.id));
    const imagePath = join(dataDir, 'workspaces', image!);
    // A disk whose volume was never made (its worker died in between): a record and an attached image.
    const strayId = 'sbx_00000000deadbeef';
    const strayPath = join(dataDir, 'workspaces', `${strayId}.img`);
    execFileSync('truncate', ['-s', '8M', strayPath]);
    execFileSync('losetup', ['--find', strayPath]);
    const record = { sandboxId: strayId, volumeName: `pdk-ws-${strayId}`, workerId: deadWorker, expiresAt: Date.now() + 3600_000, sizeMb: 8 };
    writeFileSync(`${strayPath}.json`, JSON.stringify({ ...record, scope: fx.run.labels }));
    // Another cluster's disk (other scope) in the same dir: never touched.
    const foreignId = 'sbx_00000000f0f0f0f0';
    const foreignPath = join(dataDir, 'workspaces', `${foreignId}.img`);
    execFileSync('truncate', ['-s', '8M', foreignPath]);
    writeFileSync(
      `${foreignPath}.json`,
      JSON.stringify({ ...record, sandboxId: foreignId, volumeName: `pdk-ws-${foreignId}`, scope: { 'paddock.test': 'someone-else' } }),
    );

    s.close();
    const swept = await reap({ docker: fx.docker, redis, scope: fx.run.labels, dataDir } as Parameters<typeof reap>[0]);
    assert.equal(swept.containers, 1);
    assert.deepEqual(loopsUnder(imagePath), [], "the dead worker's sandbox disk is detached");
    assert.equal(existsSync(imagePath), false);
    assert.deepEqual(loopsUnder(strayPath), [], 'the stray disk is detached');
    assert.equal(existsSync(strayPath), false);
    assert.equal(existsSync(foreignPath), true, "another scope's disk stays");
    assert.equal(existsSync(`${foreignPath}.json`), true);
  });
});

describe('image allowlist (worker side)', () => {
  test('the worker refuses a sandbox from an image off the allowlist, whether or not the image exists', async () => {
    const manager = new SandboxManager({
      docker: fx.docker,
      redis,
      workerId: fx.workerId,
      network: fx.network,
      runtime: fx.runtime,
      defaultShape: fx.shape,
      warmPoolSize: 0,
      idleTtlMs: 60_000,
      execTimeoutMs: 10_000,
      maxOutputBytes: 65_536,
      scope: fx.run.labels,
    });
    try {
      await fx.docker.getImage(LOCAL_DEBIAN_BASE).inspect(); // it exists on this engine
      for (const image of [LOCAL_DEBIAN_BASE, 'paddock/no-such-image:1']) {
        await assert.rejects(
          manager.forThread({ workspace: 'tenant-a', thread: `thread-img-${image.length}` }, { shape: { ...fx.shape, image } }),
          (err: { code?: string; message?: string }) =>
            err.code === 'image_not_allowed' && err.message === `image ${JSON.stringify(image)} is not in the cluster's allowed images ([sandbox_worker] allowed_images, set by the operator)`,
        );
      }
      const ours = await fx.docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`paddock.test=${fx.run.runId}`, `${LABEL.kind}=sandbox`] }),
      });
      assert.deepEqual(
        ours.filter((c) => c.Image !== fx.image),
        [],
        'no container from the refused image',
      );
      // The allowed (built) image still works.
      const ok = await manager.forThread({ workspace: 'tenant-a', thread: 'thread-img-ok' });
      assert.equal((await manager.exec(ok.sandbox, { argv: ['echo', 'ok'], mode: 'read-only' })).stdout.text, 'ok\n');
    } finally {
      await manager.close();
    }
  });
});
