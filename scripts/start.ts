// `npm start`: the single-host cluster as processes. A local Redis (AOF on, ACL: one user per
// service, `default` off) when none is configured, then the four services, each with only the
// environment it needs (service-env.ts) and its own Redis user; the secrets are generated on first
// run into the data folder (cluster-secrets.ts). First start (first-start.ts) also makes an operator key,
// a `local` workspace with an owner token and a `default` environment, and the CLI's login; then three
// lines: the URL, the next command, whether a model answered. On a terminal the services' logs are one
// human line each (log-format.ts); `--json-logs` keeps their JSON. SIGTERM/SIGINT stops all.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadClusterSettings, redisLimits } from '@paddock/config';
import {
  REDIS_ADMIN_USER,
  redisAclFile,
  type RedisServiceUser,
  redisUrlFor,
  serviceTokenEnvOf,
} from '@paddock/contracts';
import { redisAnswers, redisServerArgs } from '@paddock/platform';
import { waitFor } from '@paddock/testing';
import { loadOrCreateSecrets } from './cluster-secrets.ts';
import { type ServiceName, serviceEnv } from './service-env.ts';
import { bootstrapLocal, checkModel, loadOrCreateOperatorKey } from './first-start.ts';
import { prettyLogLine } from './log-format.ts';

const root = resolve(import.meta.dirname, '..');
// A first start on a busy 2-core machine (the worker compiles its launcher, fills its warm pool) can pass 30 s.
const START_TIMEOUT_MS = 120_000;
const settings = loadClusterSettings();
const children: { name: string; proc: ChildProcess }[] = [];
let stopping = false;
const say = (line: string) => console.error(`[paddock] ${line}`);
const dataDir = resolve(root, process.env['PADDOCK_DATA_DIR'] ?? '.paddock');
const { secrets, path: secretsPath, created } = loadOrCreateSecrets(dataDir);
if (created) say(`generated the cluster's secrets into ${secretsPath} (mode 0600)`);
// The shell's operator key wins; else the one generated into the data folder on first start.
const operatorKeyEnv = settings.orchestrator.operatorKeyEnv;
const operatorKey = process.env[operatorKeyEnv] || loadOrCreateOperatorKey(dataDir).key;
// Human log lines on a terminal; JSON when asked, or when the output goes to a file or a collector.
const prettyLogs = process.stdout.isTTY === true && !process.argv.includes('--json-logs');

/** The local Redis with the cluster's ACL; returns its address without credentials. */
async function startLocalRedis(): Promise<string> {
  const port = Number(process.env['PADDOCK_LOCAL_REDIS_PORT'] ?? 6390);
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Written at every start from secrets.json, so rotating is: delete secrets.json, restart.
  const aclfile = join(dir, 'users.acl');
  writeFileSync(aclfile, redisAclFile(secrets.redis), { mode: 0o600 });
  chmodSync(aclfile, 0o600);
  const url = `redis://127.0.0.1:${port}`;
  const args = redisServerArgs({ port, dir, appendonly: true, aclfile, maxmemoryMb: redisLimits(settings.file).maxmemoryMb });
  children.push({
    name: 'redis',
    proc: spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env['PATH'] ?? '' } }),
  });
  const adminUrl = redisUrlFor(url, REDIS_ADMIN_USER, secrets.redis.admin);
  await waitFor(() => redisAnswers(adminUrl), 10_000, `local Redis on ${url}`);
  say(`local Redis on ${url} (data in ${dir}; users: orchestrator, sandbox-worker, egress-proxy, admin)`);
  return url;
}

// A configured Redis is the operator's: every service gets its URL as given. The local one gets
// each service its own user.
const localRedis = settings.redisUrl ? undefined : await startLocalRedis();
const redisUrlOf = (user: RedisServiceUser): string =>
  localRedis ? redisUrlFor(localRedis, user, secrets.redis[user]) : settings.redisUrl!;
const serviceTokenEnv = serviceTokenEnvOf(settings.file);
const serviceToken = process.env[serviceTokenEnv] || secrets.guardian_service_token;
const extraEnv: Record<ServiceName, Record<string, string>> = {
  guardian: { [serviceTokenEnv]: serviceToken },
  'egress-proxy': { [serviceTokenEnv]: serviceToken, PADDOCK_REDIS_URL: redisUrlOf('egress-proxy') },
  'sandbox-worker': { [serviceTokenEnv]: serviceToken, PADDOCK_REDIS_URL: redisUrlOf('sandbox-worker') },
  orchestrator: { PADDOCK_REDIS_URL: redisUrlOf('orchestrator'), [operatorKeyEnv]: operatorKey },
};

const services: { name: ServiceName; health: string }[] = [
  { name: 'guardian', health: `http://${settings.guardian.host}:${settings.guardian.port}/healthz` },
  {
    name: 'egress-proxy',
    health: `http://${settings.egressProxy.host}:${settings.egressProxy.port}/healthz`,
  },
  {
    name: 'sandbox-worker',
    health: `http://${settings.sandboxWorker.host}:${settings.sandboxWorker.port}/healthz`,
  },
  {
    name: 'orchestrator',
    health: `http://${settings.orchestrator.host}:${settings.orchestrator.port}/healthz`,
  },
];

async function stopAll(code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  say('stopping');
  // Services first (they drain), Redis last.
  for (const group of [
    children.filter((c) => c.name !== 'redis'),
    children.filter((c) => c.name === 'redis'),
  ]) {
    await Promise.all(
      group.map(
        ({ name, proc }) =>
          new Promise<void>((done) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return done();
            // The one shutdown budget ([cluster] shutdown_grace_ms), as compose and Kubernetes give it.
            const timer = setTimeout(() => proc.kill('SIGKILL'), settings.shutdownGraceMs);
            proc.once('exit', (exitCode, signal) => {
              clearTimeout(timer);
              if (exitCode !== 0) {
                say(`${name} exited with ${exitCode ?? signal}`);
                code = 1;
              }
              done();
            });
            proc.kill('SIGTERM');
          }),
      ),
    );
  }
  process.exit(code);
}

process.once('SIGTERM', () => void stopAll(0));
process.once('SIGINT', () => void stopAll(0));

for (const s of services) {
  const proc = spawn(process.execPath, [join(root, 'services', s.name, 'src', 'main.ts')], {
    env: serviceEnv(s.name, settings, process.env, extraEnv[s.name]),
    stdio: prettyLogs ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  if (prettyLogs) {
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => console.log(prettyLogLine(s.name, line, true)));
    }
  }
  proc.once('exit', (code, signal) => {
    if (!stopping) {
      say(`${s.name} exited unexpectedly (${code ?? signal}); stopping the cluster`);
      void stopAll(1);
    }
  });
  children.push({ name: s.name, proc });
}

try {
  await Promise.all(
    services.map((s) =>
      waitFor(async () => (await fetch(s.health, { signal: AbortSignal.timeout(1000) })).ok, START_TIMEOUT_MS, s.name),
    ),
  );
} catch (err) {
  say((err as Error).message);
  await stopAll(1);
}
const apiUrl = `http://${settings.orchestrator.host}:${settings.orchestrator.port}`;
let next = 'npx paddock exec "create hello.txt that says hello"';
try {
  const local = await bootstrapLocal({ dataDir, apiUrl, operatorKey });
  if (local.created) say(`created the local workspace ${local.workspaceId}, its owner token and the CLI login (${local.configPath})`);
} catch (err) {
  // The cluster runs; only the convenience is missing: say what to do instead.
  say(`could not set up the local workspace: ${(err as Error).message}`);
  next = `npx paddock workspaces create NAME --owner EMAIL --url ${apiUrl} --operator-key-file ${join(dataDir, 'operator-key')} --login`;
}
const model = await checkModel(settings, process.env);
say(`cluster is up · API: ${apiUrl}/v1  (Ctrl-C or SIGTERM stops everything)`);
say(`next: ${next}`);
say(
  model.answered
    ? `model: ${model.model} at ${model.baseUrl} answered`
    : `model: none answered at ${model.baseUrl} (${model.detail}): scripted turns work (npx paddock run -- ls -la); agent turns and reviews fail with model_unreachable until OPENAI_API_KEY / OPENAI_BASE_URL name one`,
);
