// Pure logic: what each exec mode may write, the container profile, pool keys, proxy variables, config.
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadClusterSettings, SandboxWorkerSection } from '@paddock/config';
import {
  allowedImages,
  BUILT_SANDBOX_IMAGE_NAMES,
  DEFAULT_ALLOWED_IMAGES,
  imageAllowed,
  SANDBOX_IMAGES_DIR,
} from '@paddock/platform';
import type { Logger } from 'pino';
import { sandboxWorkerSettings } from '../src/settings.ts';
import { containerSpec, poolKey } from '../src/container-spec.ts';
import { launcherArgs } from '../src/exec-modes.ts';
import { proxyEnv } from '../src/sandbox-manager.ts';
import { effectiveDiskQuotaMb } from '../src/workspace-disk.ts';
import { DEFAULT_OUTPUT_CAPS } from '../src/turn/item-events.ts';

const limits = { cpus: 1, memoryMb: 512, pids: 100, tmpMb: 64, homeMb: 16, lifetimeMs: 60_000 };

test('launcher arguments per mode', () => {
  const ro = launcherArgs('read-only', {});
  assert.ok(ro.includes('--fs-restrict'));
  assert.ok(!ro.includes('/workspace'));
  assert.ok(ro.includes('--no-net'));
  const ww = launcherArgs('workspace-write', { writableRoots: ['/home/sandbox/cache'], network: true });
  assert.ok(ww.includes('--fs-restrict'));
  for (const p of ['/workspace', '/tmp', '/home/sandbox/cache']) assert.equal(ww[ww.indexOf(p) - 1], '--rw');
  assert.ok(!ww.includes('--no-net'));
  assert.deepEqual(launcherArgs('escalated', { network: true }), []);
  assert.deepEqual(launcherArgs('escalated', {}), ['--no-net']);
  assert.ok(!launcherArgs('read-only', { writableRoots: ['/x'] }).includes('/x'), 'writable roots only in workspace-write');
});

test('the hardened container profile', () => {
  const spec = containerSpec({
    name: 'n',
    shape: { image: 'img', limits },
    volumeName: 'vol',
    networkName: 'net',
    runtime: { nodeBinary: '/host/node', agentDir: '/host/agent' },
    labels: { a: 'b' },
  });
  const hc = spec.HostConfig!;
  assert.equal(spec.User, '1000:1000');
  assert.equal(hc.ReadonlyRootfs, true);
  assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.deepEqual(hc.SecurityOpt, ['no-new-privileges:true']);
  assert.equal(hc.Memory, 512 * 1024 * 1024);
  assert.equal(hc.MemorySwap, hc.Memory);
  assert.equal(hc.PidsLimit, 100);
  assert.equal(hc.NanoCpus, 1e9);
  assert.match(hc.Tmpfs!['/tmp']!, /size=64m/);
  assert.deepEqual(
    hc.Mounts!.map((m) => [m.Type, m.Target, m.ReadOnly ?? false]),
    [
      ['volume', '/workspace', false],
      ['bind', '/opt/paddock/node', true],
      ['bind', '/opt/paddock/agent', true],
    ],
  );
  assert.deepEqual(hc.Dns, ['127.0.0.1']);
  assert.equal(hc.NetworkMode, 'net');
});

test('pool keys depend on image and every limit', () => {
  const base = poolKey({ image: 'img', limits });
  assert.equal(poolKey({ image: 'img', limits: { ...limits } }), base);
  assert.notEqual(poolKey({ image: 'img2', limits }), base);
  for (const k of Object.keys(limits) as (keyof typeof limits)[])
    assert.notEqual(poolKey({ image: 'img', limits: { ...limits, [k]: limits[k] + 1 } }), base, k);
});

test('proxy variables carry the sandbox id and the exec token to the gateway', () => {
  const env = proxyEnv(
    { name: 'n', id: 'i', bridge: 'b', gateway: '172.30.0.1', subnet: '172.30.0.0/16', proxyPort: 3128 },
    'sbx_1',
    'tok',
  );
  assert.equal(env['HTTP_PROXY'], 'http://sbx_1:tok@172.30.0.1:3128');
  assert.equal(env['HTTPS_PROXY'], env['HTTP_PROXY']);
  assert.equal(env['https_proxy'], env['HTTP_PROXY']);
  assert.match(env['NO_PROXY']!, /localhost/);
});

// The worker refuses to start without the guardian's service credential; these tests give it one.
const SERVICE_ENV = { PADDOCK_GUARDIAN_SERVICE_TOKEN: 's'.repeat(32) };

test('config defaults and overrides', () => {
  const defaults = sandboxWorkerSettings(loadClusterSettings({}, '/nonexistent'), SERVICE_ENV);
  assert.equal(defaults.warmPoolSize, 2);
  assert.equal(defaults.limits.pids, 256);
  assert.equal(defaults.proxyPort, 3128);
  const settings = loadClusterSettings({}, '/nonexistent');
  settings.file = { sandbox_worker: { warm_pool_size: 5, limits: { memory_mb: 2048 }, lease_ms: 5000 } };
  const c = sandboxWorkerSettings(settings, SERVICE_ENV);
  assert.equal(c.warmPoolSize, 5);
  assert.equal(c.limits.memoryMb, 2048);
  assert.equal(c.limits.cpus, 1);
  assert.equal(c.leaseMs, 5000);
});

test('image allowlist: exact references, repo:* for tags only, the default is the built sandbox images', () => {
  const built = readdirSync(SANDBOX_IMAGES_DIR).filter((n) => statSync(join(SANDBOX_IMAGES_DIR, n)).isDirectory());
  assert.deepEqual([...BUILT_SANDBOX_IMAGE_NAMES].sort(), built.sort(), 'the list follows sandbox-images/');
  const list = DEFAULT_ALLOWED_IMAGES;
  assert.equal(imageAllowed(list, 'paddock/sandbox-base'), true);
  assert.equal(imageAllowed(list, 'paddock/sandbox-base:0123abcd'), true);
  for (const ref of ['paddock/sandbox-based:1', 'x/paddock/sandbox-base:1', 'paddock/sandbox-base@sha256:00', 'paddock/sandbox-base:a/b', 'paddock/orchestrator:dev'])
    assert.equal(imageAllowed(list, ref), false, ref);
  assert.equal(imageAllowed(['node:22'], 'node:22'), true);
  assert.equal(imageAllowed(['node'], 'node:latest'), true);
  assert.equal(imageAllowed(['node:22'], 'node:20'), false);
  assert.deepEqual(allowedImages({ sandbox_worker: { image: 'mine:1', allowed_images: ['a:1'] } }), ['a:1', 'mine:1']);
});

test('disk quota without loop devices: the default one is dropped with a warning, an explicit one refuses to start', async () => {
  const missing = async () => 'no /dev/loop-control';
  const warnings: unknown[] = [];
  const logger = { warn: (o: unknown) => warnings.push(o) } as unknown as Logger;
  assert.equal(await effectiveDiskQuotaMb(8192, false, logger, missing), 0);
  assert.equal(warnings.length, 1);
  await assert.rejects(effectiveDiskQuotaMb(8192, true, logger, missing), { code: 'disk_quota_unavailable' });
  assert.equal(await effectiveDiskQuotaMb(8192, true, logger, async () => undefined), 8192);
  assert.equal(await effectiveDiskQuotaMb(0, true, logger, missing), 0);
  assert.equal(poolKey({ image: 'img', limits }), poolKey({ image: 'img', limits: { ...limits, workspaceDiskMb: 0 } }));
  assert.notEqual(poolKey({ image: 'img', limits }), poolKey({ image: 'img', limits: { ...limits, workspaceDiskMb: 64 } }));
});

test('the output caps in the schema are the ones the worker applies when unset', () => {
  const c = sandboxWorkerSettings(loadClusterSettings({}, '/nonexistent'), SERVICE_ENV);
  assert.deepEqual(c.outputCaps, DEFAULT_OUTPUT_CAPS);
  const props = SandboxWorkerSection.properties.output_caps.properties;
  const schemaDefault = (key: unknown) => (key as { default?: number }).default;
  assert.deepEqual(
    {
      itemBytes: schemaDefault(props.item_bytes),
      turnBytes: schemaDefault(props.turn_bytes),
      threadBytes: schemaDefault(props.thread_bytes),
    },
    DEFAULT_OUTPUT_CAPS,
  );
  assert.equal(schemaDefault(SandboxWorkerSection.properties.limits.properties.workspace_disk_mb), c.limits.workspaceDiskMb);
});

test('internal endpoint: the environment sets it per host; a wildcard bind publishes this host name, one URL per replica', async () => {
  const { internalUrlOf } = await import('../src/worker.ts');
  const env = {
    ...SERVICE_ENV,
    PADDOCK_SANDBOX_WORKER_INTERNAL_HOST: '0.0.0.0',
    PADDOCK_SANDBOX_WORKER_INTERNAL_PORT: '9084',
  };
  const s = sandboxWorkerSettings(loadClusterSettings({}, '/nonexistent'), env);
  assert.deepEqual(s.internal, { host: '0.0.0.0', port: 9084, url: undefined });
  assert.equal(internalUrlOf(s.internal.host, s.internal.port, s.internal.url, 'worker-2'), 'http://worker-2:9084');
  assert.equal(internalUrlOf('::', 1, undefined, 'node-a'), 'http://node-a:1');
  assert.equal(internalUrlOf('10.0.0.5', 8084, undefined, 'ignored'), 'http://10.0.0.5:8084');
  assert.equal(internalUrlOf('0.0.0.0', 8084, 'http://w.example:1', 'ignored'), 'http://w.example:1');
  assert.throws(
    () => sandboxWorkerSettings(loadClusterSettings({}, '/nonexistent'), { ...SERVICE_ENV, PADDOCK_SANDBOX_WORKER_INTERNAL_PORT: 'x' }),
    /PADDOCK_SANDBOX_WORKER_INTERNAL_PORT must be a TCP port/,
  );
});

test("a kept workspace's retention: the cluster's, or the lower one its workspace's requirement recorded", async () => {
  const { retentionOf } = await import('../src/reaper.ts');
  assert.equal(retentionOf({}, 7_000), 7_000);
  assert.equal(retentionOf({ retentionMs: '2000' }, 7_000), 2_000);
  assert.equal(retentionOf({ retentionMs: '9000' }, 7_000), 7_000, 'never raised');
  assert.equal(retentionOf({ retentionMs: 'junk' }, 7_000), 7_000);
});
