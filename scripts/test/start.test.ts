// `npm start` end to end: the cluster script brings up a local Redis and the four services,
// each health endpoint answers, and SIGTERM stops everything with exit code 0. On the way: Redis
// refuses clients without credentials, the guardian refuses callers without the service credential,
// each service's environment holds only what it needs, and the generated secrets are owner-only.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  ensureDocker,
  type FakeModel,
  freePort,
  removeLabeled,
  startFakeModel,
  TEST_LABEL,
  testRun,
  waitFor,
} from '@paddock/testing';
import { REPO_ROOT } from '@paddock/platform';
import { reviewRequest } from '@paddock/e2e-tests/guardian-fixtures';

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

/** The first reply line to each inline command, on one fresh connection with no credentials. */
function anonymousRedis(port: number, commands: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no full answer from Redis: ${text}`));
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

/** The environment of a running process, from /proc. */
function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** The service processes started by `pid`, by the service folder in their command line. */
function serviceChildren(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  for (const child of children.map(Number)) {
    const cmdline = readFileSync(`/proc/${child}/cmdline`, 'utf8');
    const name = /services\/([a-z-]+)\/src\/main\.ts/.exec(cmdline)?.[1] ?? (cmdline.startsWith('redis-server') ? 'redis' : undefined);
    if (name) out.set(name, child);
  }
  return out;
}

test('npm start brings every service up and SIGTERM stops all with exit code 0', async () => {
  const ports = {
    PADDOCK_LOCAL_REDIS_PORT: await freePort(),
    PADDOCK_ORCHESTRATOR_PORT: await freePort(),
    PADDOCK_ORCHESTRATOR_METRICS_PORT: await freePort(),
    PADDOCK_GUARDIAN_PORT: await freePort(),
    PADDOCK_EGRESS_PROXY_PORT: await freePort(),
    PADDOCK_SANDBOX_WORKER_PORT: await freePort(),
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'paddock-start-'));
  // Sentinels in the operator's shell: none may reach a service that does not need it.
  const sentinel = `sentinel-${process.pid}-${Date.now()}`;
  const operatorKey = `op-key-${process.pid}-${Date.now()}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PADDOCK_DATA_DIR: dataDir,
    // First start writes the CLI's login: into the test's folder, never the machine's ~/.config.
    PADDOCK_CONFIG_DIR: join(dataDir, 'cli'),
    PADDOCK_START_TEST_SENTINEL: sentinel,
    CLOUD_SECRET_ACCESS_KEY: sentinel,
    PADDOCK_OPERATOR_KEY: operatorKey,
  };
  delete env['PADDOCK_GUARDIAN_SERVICE_TOKEN'];
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
  await waitFor(() => output.includes('cluster is up') || cluster?.exitCode !== null, 150_000, 'cluster start').catch((err) => {
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

  // Redis refuses every command of a client without credentials.
  const refused = await anonymousRedis(ports.PADDOCK_LOCAL_REDIS_PORT, ['PING', 'GET paddock:workspaces', 'FLUSHALL', 'CONFIG GET *']);
  assert.equal(refused.length, 4);
  for (const reply of refused) assert.match(reply, /^-NOAUTH/, `Redis answered ${reply} without credentials`);

  // The generated secrets are owner-only; the ACL file holds password hashes, not passwords.
  const secretsPath = join(dataDir, 'secrets.json');
  assert.equal(statSync(secretsPath).mode & 0o777, 0o600);
  const secrets = JSON.parse(readFileSync(secretsPath, 'utf8')) as {
    redis: Record<string, string>;
    guardian_service_token: string;
  };
  const aclPath = join(dataDir, 'redis', 'users.acl');
  assert.equal(statSync(aclPath).mode & 0o777, 0o600);
  const acl = readFileSync(aclPath, 'utf8');
  assert.match(acl, /^user default off/m);
  for (const password of Object.values(secrets.redis)) {
    assert.ok(!acl.includes(password), 'a password in the ACL file');
    assert.ok(!output.includes(password), 'a Redis password in the cluster output');
  }
  assert.ok(!output.includes(secrets.guardian_service_token), 'the service credential in the cluster output');

  // The guardian reviews nothing for a caller without the service credential.
  const modelCallsBefore = model.requests.length;
  const review = await fetch(`http://127.0.0.1:${ports.PADDOCK_GUARDIAN_PORT}/v1/reviews`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(reviewRequest({ deadline_ms: 2000 })),
  });
  assert.equal(review.status, 401);
  assert.equal(model.requests.length, modelCallsBefore);

  // Each service holds only its own environment: no sentinel anywhere, each secret only where it is used.
  const pids = serviceChildren(cluster.pid!);
  assert.deepEqual([...pids.keys()].sort(), ['egress-proxy', 'guardian', 'orchestrator', 'redis', 'sandbox-worker']);
  for (const [name, pid] of pids) {
    const childEnv = environOf(pid);
    assert.ok(!Object.values(childEnv).some((v) => v.includes(sentinel)), `${name} got a sentinel`);
    assert.equal(childEnv['PADDOCK_START_TEST_SENTINEL'], undefined, `${name} got PADDOCK_START_TEST_SENTINEL`);
    assert.equal(childEnv['CLOUD_SECRET_ACCESS_KEY'], undefined, `${name} got CLOUD_SECRET_ACCESS_KEY`);
    assert.equal(childEnv['PADDOCK_OPERATOR_KEY'], name === 'orchestrator' ? operatorKey : undefined, name);
    const holdsServiceToken = ['guardian', 'egress-proxy', 'sandbox-worker'].includes(name);
    assert.equal(childEnv['PADDOCK_GUARDIAN_SERVICE_TOKEN'], holdsServiceToken ? secrets.guardian_service_token : undefined, name);
    if (name === 'redis' || name === 'guardian') {
      assert.equal(childEnv['PADDOCK_REDIS_URL'], undefined, `${name} got a Redis URL`);
    } else {
      // Its own user, and no other's password.
      assert.equal(new URL(childEnv['PADDOCK_REDIS_URL']!).username, name);
      for (const [user, password] of Object.entries(secrets.redis)) {
        if (user !== name) assert.ok(!Object.values(childEnv).some((v) => v.includes(password)), `${name} holds ${user}'s password`);
      }
    }
    if (name !== 'redis') assert.ok(childEnv['PATH'], `${name} has a PATH`);
  }

  // Each service process serves its own Prometheus /metrics (named by its resource) on its operator listener.
  const metricsOf = async (port: string | number) => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.text() };
  };
  for (const [name, port, own] of [
    ['orchestrator', ports.PADDOCK_ORCHESTRATOR_METRICS_PORT, /^paddock_turns_queue_depth\{stage="queued",otel_scope_name="paddock\.orchestrator"\} \d+$/m],
    ['guardian', ports.PADDOCK_GUARDIAN_PORT, /^guardian_model_in_flight\{otel_scope_name="paddock\.guardian"\} 0$/m],
    ['egress-proxy', ports.PADDOCK_EGRESS_PROXY_PORT, /^# TYPE target_info gauge$/m],
    ['sandbox-worker', ports.PADDOCK_SANDBOX_WORKER_PORT, /^# TYPE target_info gauge$/m],
  ] as const) {
    const scraped = await metricsOf(port);
    assert.equal(scraped.status, 200, `${name} /metrics: ${scraped.body.slice(0, 200)}`);
    assert.match(scraped.body, new RegExp(`^target_info\\{.*service_name="${name}".*\\} 1$`, 'm'), `${name}: ${scraped.body}`);
    assert.match(scraped.body, own, `${name}: ${scraped.body}`);
  }
  // The public API port does not serve metrics.
  assert.equal((await metricsOf(ports.PADDOCK_ORCHESTRATOR_PORT)).status, 404);

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
