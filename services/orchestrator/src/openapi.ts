// The orchestrator's OpenAPI document without a network or a Redis: the app is built with a Redis
// client that never connects and is asked for `swagger()`. `npm run sdk` generates @paddock/sdk from it.
import { TurnScheduler } from '@paddock/turn-queue';
import { Redis } from 'ioredis';
import pino from 'pino';
import { buildApp } from './app.ts';
import { orchestratorSettings } from './settings.ts';

export async function openApiDocument(): Promise<Record<string, unknown>> {
  // lazyConnect and no offline queue: nothing is ever sent; building the routes reads no data.
  const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
  const app = await buildApp({
    redis,
    logger: pino({ level: 'silent' }),
    settings: orchestratorSettings({ file: {}, orchestrator: { host: '127.0.0.1', port: 0, operatorKeyEnv: 'UNSET' } }, {}),
    clusterFile: {},
    scheduler: new TurnScheduler(redis),
    now: Date.now,
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
    redis.disconnect();
  }
}
