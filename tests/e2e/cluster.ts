// The whole cluster for end-to-end tests, in one process where it can be: a real Redis, the
// orchestrator (real HTTP), the guardian (real HTTP), the egress proxy (its listeners follow the
// workers' sandbox networks from Redis), sandbox workers on real Docker, two fake models (the agent's
// and the guardian's: the only stand-ins), and two upstream HTTP servers on loopback that the
// thread's policy allows or forbids. Everything Docker-side carries the run's labels. With
// `redisAcl` Redis runs the cluster's ACL and each service connects as its own user (`client` is admin).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ClusterFile, clusterModelProviders } from '@paddock/config';
import { createLogger, createRedis, ensureSandboxImage } from '@paddock/platform';
import { keys, parseEntries, REDIS_ADMIN_USER, type ThreadEvent } from '@paddock/contracts';
import {
  removeSandboxNetwork,
  type RunningWorker,
  startWorker,
  type WorkerOptions,
} from '@paddock/sandbox-worker';
import {
  ensureDocker,
  type FakeModel,
  freePort,
  type RedisServer,
  removeLabeled,
  type SentinelGroup,
  SENTINEL_PRIMARY_NAME,
  startFakeModel,
  startRedis,
  startSentinelGroup,
  testRun,
  waitFor,
} from '@paddock/testing';
import type Docker from 'dockerode';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { startEgressProxy } from '@paddock/egress-proxy';
import { buildApp as buildGuardian } from '@paddock/guardian';
import { type Orchestrator, type OrchestratorSettings, orchestratorSettings, startOrchestrator } from '@paddock/orchestrator';
import { settingsFor as guardianSettingsFor, SERVICE_TOKEN } from './support/guardian-settings.ts';
import { SMALL_LIMITS } from './support/sandbox-limits.ts';

// The e2e sandboxes use the runtime suites' small limits.
export { SMALL_LIMITS };

const OPERATOR_KEY = `op-e2e-${process.pid}-${Math.random().toString(36).slice(2)}`;
export const logger = createLogger('e2e', (process.env['E2E_LOG'] as 'info' | undefined) ?? 'silent');

export type Upstream = { server: Server; port: number; hits: () => number; name: string };

async function upstream(name: string, body: string): Promise<Upstream> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits, name };
}

export type Cluster = {
  docker: Docker;
  /** With `sentinel`, the group's admin URL and service URLs (restart() is refused: use sentinel.failover()). */
  redis: RedisServer;
  sentinel: SentinelGroup | undefined;
  client: Redis;
  run: { runId: string; labels: Record<string, string> };
  agentModel: FakeModel;
  guardianModel: FakeModel;
  orchestrator: Orchestrator;
  apiUrl: string;
  guardianUrl: string;
  proxyPort: number;
  workers: RunningWorker[];
  allowed: Upstream;
  forbidden: Upstream;
  image: string;
  workerOptions: (over?: Partial<WorkerOptions>) => WorkerOptions;
  /** Stops the guardian (reviews then fail closed) and starts it again. */
  stopGuardian: () => Promise<void>;
  startGuardian: () => Promise<void>;
  /** What the in-process orchestrator was started with (JSON-able), so a suite can run one in a process of its own. */
  orchestratorOptions: { redisUrl: string; settings: OrchestratorSettings; clusterFile: ClusterFile };
  /** The egress proxy's options but its Redis client and logger (JSON-able), for a proxy in a process of its own. */
  proxyOptions: Omit<Parameters<typeof startEgressProxy>[0], 'redis' | 'logger'> & { redisUrl: string };
  close: () => Promise<void>;
};

export async function startCluster(
  name: string,
  o: {
    workers?: number;
    worker?: Partial<WorkerOptions>;
    clusterFile?: ClusterFile;
    redisAcl?: boolean;
    /** Orchestrator settings over the defaults (e.g. a loopback webhook policy). */
    orchestrator?: Partial<OrchestratorSettings>;
    /** A Redis HA group (primary, replica, three sentinels) instead of one Redis: every service connects by redis-sentinel://. */
    sentinel?: boolean;
    /** false: no in-process egress proxy (the chaos suite runs it as a process it can SIGKILL). */
    egressProxy?: boolean;
  } = {},
): Promise<Cluster> {
  const docker = await ensureDocker();
  const run = testRun(name);
  const sentinel = o.sentinel ? await startSentinelGroup() : undefined;
  const redis = sentinel ? sentinelServer(sentinel) : await startRedis({ appendonly: true, acl: o.redisAcl ?? false });
  const client = createRedis(redis.url, { maxRetriesPerRequest: null });
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    const networks = await docker.listNetworks({ filters: JSON.stringify({ label: [`paddock.test=${run.runId}`] }) });
    await removeLabeled(docker, run.runId);
    for (const n of networks) await removeSandboxNetwork(docker, n.Name).catch(() => {}); // and its firewall rules
    client.disconnect();
    await redis.stop();
  };
  try {
    const image = await ensureSandboxImage(docker);
    const agentModel = await startFakeModel();
    closers.push(() => agentModel.close());
    const guardianModel = await startFakeModel();
    closers.push(() => guardianModel.close());
    const allowed = await upstream('allowed.test', 'hello from the allowed server\n');
    const forbidden = await upstream('forbidden.test', 'secret from the forbidden server\n');
    closers.push(
      () => new Promise((r) => allowed.server.close(r)),
      () => new Promise((r) => forbidden.server.close(r)),
    );

    // Guardian: real HTTP on a fixed port, so it can be stopped and started again.
    const guardianPort = await freePort();
    let guardian: FastifyInstance | undefined;
    const startGuardian = async () => {
      guardian = await buildGuardian({
        logger,
        settings: guardianSettingsFor(guardianModel.url, { host: '127.0.0.1', port: guardianPort }),
      });
      await guardian.listen({ host: '127.0.0.1', port: guardianPort });
    };
    const stopGuardian = async () => {
      await guardian?.close();
      guardian = undefined;
    };
    await startGuardian();
    closers.push(stopGuardian);
    const guardianUrl = `http://127.0.0.1:${guardianPort}`;

    // Egress proxy: the operator listener on loopback, and one per sandbox network found in Redis.
    const proxyPort = await freePort();
    const proxyOptions = {
      redisUrl: redis.urlFor('egress-proxy'),
      guardianUrl,
      guardianServiceToken: SERVICE_TOKEN,
      listeners: [{ network: 'host', host: '127.0.0.1', port: proxyPort }],
      port: proxyPort,
      hosts: { [allowed.name]: ['127.0.0.1'], [forbidden.name]: ['127.0.0.1'] },
      useDns: false,
      options: { allowedPrivateRanges: ['127.0.0.1/32'], reviewDeadlineMs: 5_000, approvalTimeoutMs: 20_000 },
      watchIntervalMs: 200,
    };
    const egress =
      o.egressProxy === false
        ? undefined
        : await (async () => {
            const { redisUrl, ...rest } = proxyOptions;
            const proxyRedis = createRedis(redisUrl, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
            const running = await startEgressProxy({ redis: proxyRedis, logger, ...rest });
            closers.push(async () => {
              await running.close();
              proxyRedis.disconnect();
            });
            return running;
          })();

    // The cluster file points the agent model at the fake, one provider per wire; the orchestrator
    // and every worker read the same table (a turn names a provider, never carries one).
    const clusterFile = {
      model: 'agent-model',
      model_provider: 'fake',
      model_providers: {
        // Chat Completions said explicitly: the suites read the chat request shape (the default is responses).
        fake: { name: 'Fake', base_url: agentModel.url, env_key: 'PADDOCK_E2E_MODEL_KEY', wire_api: 'chat' as const },
        'fake-chat': { base_url: agentModel.url, env_key: 'PADDOCK_E2E_MODEL_KEY', wire_api: 'chat' as const },
        'fake-responses': { base_url: agentModel.url, env_key: 'PADDOCK_E2E_MODEL_KEY', wire_api: 'responses' as const },
      },
    };
    const orchestratorOptions = {
      redisUrl: redis.urlFor('orchestrator'),
      settings: {
        ...orchestratorSettings(
          { file: {}, orchestrator: { host: '127.0.0.1', port: 0, operatorKeyEnv: 'X' } },
          { X: OPERATOR_KEY },
        ),
        maxRunningTurnsPerWorkspace: 8,
        dispatchWindow: 8,
        // The files API calls the workers' internal endpoint with the cluster's service credential.
        workerServiceToken: SERVICE_TOKEN,
        ...o.orchestrator,
      },
      clusterFile: { ...clusterFile, ...o.clusterFile },
    };
    const orchestrator = await startOrchestrator({ ...orchestratorOptions, logger, metrics: { host: '127.0.0.1', port: 0 } });
    closers.push(() => orchestrator.close());
    await orchestrator.app.listen({ host: '127.0.0.1', port: 0 });
    const apiUrl = `http://127.0.0.1:${(orchestrator.app.server.address() as AddressInfo).port}`;

    const workerOptions = (over: Partial<WorkerOptions> = {}): WorkerOptions => ({
      docker,
      redisUrl: redis.urlFor('sandbox-worker'),
      image,
      limits: SMALL_LIMITS,
      proxyPort,
      guardianUrl,
      guardianServiceToken: SERVICE_TOKEN,
      concurrency: 4,
      warmPoolSize: 1,
      leaseMs: 3_000,
      reapIntervalMs: 1_000,
      idleTtlMs: 10 * 60_000,
      execTimeoutMs: 30_000,
      maxOutputBytes: 64 * 1024,
      reviewDeadlineMs: 2_000,
      approvalTimeoutMs: 3_000,
      outputThrottleMs: 100,
      turnLockMs: 4_000,
      logger,
      scope: run.labels,
      env: { PADDOCK_E2E_MODEL_KEY: 'test-key' },
      modelProviders: clusterModelProviders({ ...clusterFile, ...o.clusterFile }),
      ...o.worker,
      ...over,
    });
    const workers: RunningWorker[] = [];
    for (let i = 0; i < (o.workers ?? 1); i++) workers.push(await startWorker(workerOptions()));
    closers.push(() => Promise.all(workers.map((w) => w.close())));
    // The proxy must listen on every worker's network before a sandbox sends anything.
    await waitFor(
      async () => {
        await egress?.networks.refresh();
        return true;
      },
      5_000,
      'proxy network scan',
    );
    return {
      docker,
      redis,
      sentinel,
      client,
      run,
      agentModel,
      guardianModel,
      orchestrator,
      apiUrl,
      guardianUrl,
      proxyPort,
      workers,
      allowed,
      forbidden,
      image,
      workerOptions,
      stopGuardian,
      startGuardian,
      orchestratorOptions,
      proxyOptions,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A Sentinel group seen as the cluster's Redis: redis-sentinel:// URLs for the admin and each service user. */
function sentinelServer(g: SentinelGroup): RedisServer {
  const hosts = g.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',');
  const url = `redis-sentinel://${REDIS_ADMIN_USER}:${encodeURIComponent(g.passwords.admin)}@${hosts}/${SENTINEL_PRIMARY_NAME}`;
  const clients: Redis[] = [];
  return {
    url,
    urlFor: g.urlFor,
    passwords: g.passwords,
    port: g.dataPorts[0],
    dir: '',
    client: () => {
      const c = createRedis(url, { maxRetriesPerRequest: null });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    restart: () => Promise.reject(new Error('a Sentinel group is not restarted: use cluster.sentinel.failover()')),
    stop: async () => {
      for (const c of clients) c.disconnect();
      await g.stop();
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are free-form JSON the tests index into
export type ApiResponse = { status: number; json: any };

export function apiOf(c: Pick<Cluster, 'apiUrl'>) {
  return async (method: string, path: string, token?: string, body?: unknown): Promise<ApiResponse> => {
    const res = await fetch(`${c.apiUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  };
}

export async function newWorkspace(c: Cluster, name: string) {
  const call = apiOf(c);
  const r = await call('POST', '/v1/workspaces', OPERATOR_KEY, { name, owner_email: `owner@${name}.test` });
  if (r.status !== 201) throw new Error(`workspace create: ${r.status} ${JSON.stringify(r.json)}`);
  return { id: r.json.workspace.id as string, owner: r.json.owner_token.secret as string };
}

export async function newThread(
  c: Cluster,
  token: string,
  config: Record<string, unknown>,
  env: { setup_script?: string } = {},
) {
  const call = apiOf(c);
  const e = await call('POST', '/v1/environments', token, { name: 'e', image: c.image, ...env });
  if (e.status !== 201) throw new Error(`env create: ${e.status} ${JSON.stringify(e.json)}`);
  const t = await call('POST', '/v1/threads', token, { environment_id: e.json.id, config });
  if (t.status !== 201) throw new Error(`thread create: ${t.status} ${JSON.stringify(t.json)}`);
  return t.json.id as string;
}

/** The thread's events as the API serves them (JSONL). */
export async function jsonlEvents(c: Cluster, token: string, threadId: string): Promise<ThreadEvent[]> {
  const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/events?format=jsonl`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`events: ${res.status}`);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ThreadEvent & { data?: ThreadEvent })
    .map((e) => e.data ?? e);
}

/** Waits until the turn is terminal; returns its final event (turn.completed or turn.failed). */
export async function waitForTurnEnd(c: Cluster, threadId: string, turnId: string, timeoutMs = 60_000) {
  let end: ThreadEvent | undefined;
  await waitFor(
    async () => {
      const entries = parseEntries((await c.client.xrange(keys.events(threadId), '-', '+')) as [string, string[]][]);
      end = entries
        .map((e) => e.event)
        .find((e) => (e.type === 'turn.completed' || e.type === 'turn.failed') && e.turn_id === turnId);
      return end !== undefined;
    },
    timeoutMs,
    `end of turn ${turnId}`,
  );
  return end!;
}
