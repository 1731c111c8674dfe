// `npm start` end to end: the cluster script brings up a local Redis and the four services,
// each health endpoint answers, and SIGTERM stops everything with exit code 0.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  ensureDocker,
  type FakeModel,
  freePort,
  REPO_ROOT,
  removeLabeled,
  startFakeModel,
  TEST_LABEL,
  testRun,
  waitFor,
} from '@paddock/shared/testing';

// The worker's sandboxes carry this run's label, and its reaper touches nothing else: other suites
// run on the same Docker engine at the same time.
const run = testRun('npm-start');
let cluster: ChildProcess | undefined;
let model: FakeModel | undefined;
after(async () => {
  if (cluster && cluster.exitCode === null) cluster.kill('SIGKILL');
  await model?.close();
  await removeLabeled(await ensureDocker(), run.runId);
});

test('npm start brings every service up and SIGTERM stops all with exit code 0', async () => {
  const ports = {
    PADDOCK_LOCAL_REDIS_PORT: await freePort(),
    PADDOCK_ORCHESTRATOR_PORT: await freePort(),
    PADDOCK_GUARDIAN_PORT: await freePort(),
    PADDOCK_EGRESS_PROXY_PORT: await freePort(),
    PADDOCK_SANDBOX_WORKER_PORT: await freePort(),
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PADDOCK_DATA_DIR: mkdtempSync(join(tmpdir(), 'paddock-start-')),
  };
  delete env['PADDOCK_CONFIG'];
  // The guardian's model: a local fake, so nothing leaves this machine.
  model = await startFakeModel();
  env['PADDOCK_GUARDIAN_MODEL_BASE_URL'] = model.url;
  env['PADDOCK_SANDBOX_SCOPE'] = Object.entries(run.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  delete env['PADDOCK_REDIS_URL'];
  for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  let output = '';
  cluster = spawn(process.execPath, [join(REPO_ROOT, 'scripts/start.ts')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cluster.stdout?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  cluster.stderr?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => cluster?.once('exit', (code) => resolve(code)));

  // Done waiting when the cluster says it is up, or when it stopped (the assertion below says why).
  await waitFor(() => output.includes('cluster is up') || cluster?.exitCode !== null, 30_000, 'cluster start').catch((err) => {
    throw new Error(`${(err as Error).message}\n${output}`);
  });
  assert.equal(cluster.exitCode, null, `the cluster stopped during start:\n${output}`);
  for (const [name, port] of [
    ['orchestrator', ports.PADDOCK_ORCHESTRATOR_PORT],
    ['guardian', ports.PADDOCK_GUARDIAN_PORT],
    ['egress-proxy', ports.PADDOCK_EGRESS_PROXY_PORT],
    ['sandbox-worker', ports.PADDOCK_SANDBOX_WORKER_PORT],
  ] as const) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200, `${name} /healthz`);
  }
  assert.match(output, new RegExp(`API: http://127\\.0\\.0\\.1:${ports.PADDOCK_ORCHESTRATOR_PORT}/v1`));
  // The orchestrator reaches the Redis that start.ts launched.
  assert.equal((await fetch(`http://127.0.0.1:${ports.PADDOCK_ORCHESTRATOR_PORT}/readyz`)).status, 200);
  // The guardian is ready: its model endpoint answers.
  assert.equal((await fetch(`http://127.0.0.1:${ports.PADDOCK_GUARDIAN_PORT}/readyz`)).status, 200);

  // The worker's sandbox network and warm pool carry this run's scope label.
  const docker = await ensureDocker();
  const filters = JSON.stringify({ label: [`${TEST_LABEL}=${run.runId}`] });
  await waitFor(async () => (await docker.listContainers({ all: true, filters })).length > 0, 60_000, 'warm pool');
  assert.ok((await docker.listNetworks({ filters })).length > 0, 'the worker network carries the scope label');

  cluster.kill('SIGTERM');
  assert.equal(await exited, 0, output);
  // Nothing is left listening.
  await assert.rejects(fetch(`http://127.0.0.1:${ports.PADDOCK_ORCHESTRATOR_PORT}/healthz`));
  assert.match(output, /stopping/);
  // The worker removed what it had created (warm pool, network) before it exited.
  assert.equal((await docker.listContainers({ all: true, filters })).length, 0, 'containers left');
  assert.equal((await docker.listNetworks({ filters })).length, 0, 'networks left');
  assert.doesNotMatch(output, /exited with/);
});
