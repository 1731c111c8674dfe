// `npm start`: the single-host cluster as processes. A local Redis (AOF on) when none is
// configured, then the four services; prints where the API listens; SIGTERM/SIGINT stops all.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadClusterSettings } from '@paddock/shared';
import { redisAnswers, redisServerArgs } from '@paddock/shared/redis-server.ts';
import { waitFor } from '@paddock/shared/testing';

const root = resolve(import.meta.dirname, '..');
const settings = loadClusterSettings();
const children: { name: string; proc: ChildProcess }[] = [];
let stopping = false;
const say = (line: string) => console.error(`[paddock] ${line}`);

async function startLocalRedis(): Promise<string> {
  const port = Number(process.env['PADDOCK_LOCAL_REDIS_PORT'] ?? 6390);
  const dir = join(resolve(root, process.env['PADDOCK_DATA_DIR'] ?? '.paddock'), 'redis');
  mkdirSync(dir, { recursive: true });
  const url = `redis://127.0.0.1:${port}`;
  const args = redisServerArgs({ port, dir, appendonly: true });
  children.push({
    name: 'redis',
    proc: spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] }),
  });
  await waitFor(() => redisAnswers(url), 10_000, `local Redis on ${url}`);
  say(`local Redis on ${url} (data in ${dir})`);
  return url;
}

const redisUrl = settings.redisUrl ?? (await startLocalRedis());
const env = { ...process.env, PADDOCK_REDIS_URL: redisUrl };

const services = [
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
            const timer = setTimeout(() => proc.kill('SIGKILL'), 25_000);
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
    env,
    stdio: 'inherit',
  });
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
      waitFor(async () => (await fetch(s.health, { signal: AbortSignal.timeout(1000) })).ok, 30_000, s.name),
    ),
  );
} catch (err) {
  say((err as Error).message);
  await stopAll(1);
}
say('cluster is up');
for (const s of services) say(`  ${s.name.padEnd(15)} ${s.health}`);
say(
  `API: http://${settings.orchestrator.host}:${settings.orchestrator.port}/v1  (Ctrl-C or SIGTERM stops everything)`,
);
