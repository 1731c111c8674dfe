// Builds the whole orchestrator from settings: Redis (checked for durability), the scheduler,
// the dispatcher, the HTTP app, the metrics listener and the audit retention timer. main.ts, the
// tests and the queue benchmark all start it here.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClusterFile } from '@paddock/config';
import { serveMetrics } from '@paddock/platform';
import { Dispatcher, TurnScheduler } from '@paddock/turn-queue';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import { startAuditRetention } from './audit-retention.ts';
import { checkDurability } from './redis-check.ts';
import type { OrchestratorSettings } from './settings.ts';

export type Orchestrator = {
  app: FastifyInstance;
  dispatcher: Dispatcher;
  redis: Redis;
  /** The port GET /metrics answers on, when a metrics listener was asked for. */
  metricsPort: number | undefined;
  close: () => Promise<void>;
};

export async function startOrchestrator(o: {
  redisUrl: string;
  settings: OrchestratorSettings;
  clusterFile?: ClusterFile;
  logger: Logger;
  now?: () => number;
  /** Off for tests that look at queued state before any consumer runs. */
  dispatch?: boolean;
  /** The operator listener for GET /metrics (Prometheus); the API port never serves it. */
  metrics?: { host: string; port: number };
}): Promise<Orchestrator> {
  // enableOfflineQueue false: with Redis down a request fails at once (503) instead of hanging.
  const redis = new Redis(o.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', (err) => o.logger.warn({ err: err.message }, 'redis error'));
  try {
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', resolve);
      redis.once('error', reject);
    });
    await checkDurability(redis, o.settings.redisDurability, o.logger);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const dispatcher = new Dispatcher({
    redisUrl: o.redisUrl,
    capPerWorkspace: o.settings.maxRunningTurnsPerWorkspace,
    window: o.settings.dispatchWindow,
    logger: o.logger,
  });
  if (o.dispatch !== false) await dispatcher.start();
  const app = await buildApp({
    redis,
    logger: o.logger,
    settings: o.settings,
    clusterFile: o.clusterFile ?? {},
    scheduler: new TurnScheduler(redis),
    now: o.now ?? Date.now,
  });
  await app.ready();
  let metrics: Server | undefined;
  try {
    metrics = o.metrics ? await listenMetrics(o.metrics) : undefined;
  } catch (err) {
    // The port is taken (or not ours): stop what started, and say which port.
    await app.close();
    await dispatcher.close();
    redis.disconnect();
    throw new Error(`orchestrator metrics_port ${o.metrics?.port}: ${(err as Error).message}`, { cause: err });
  }
  const retention = startAuditRetention({
    redis,
    retentionDays: o.settings.auditRetentionDays,
    logger: o.logger,
    now: o.now ?? Date.now,
  });
  return {
    app,
    dispatcher,
    redis,
    metricsPort: metrics ? (metrics.address() as AddressInfo).port : undefined,
    close: async () => {
      retention.stop();
      if (metrics) await new Promise<void>((resolve) => metrics.close(() => resolve()));
      await app.close();
      await dispatcher.close();
      redis.disconnect();
    },
  };
}

async function listenMetrics(at: { host: string; port: number }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') return serveMetrics(req, res);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: 'only GET /metrics is served here' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, resolve);
  });
  return server;
}

// What other processes (main.ts, the e2e suite, the benchmarks) may use of this service.
export { orchestratorSettings } from './settings.ts';
export { openApiDocument } from './openapi.ts';
