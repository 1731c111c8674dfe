// Running a redis-server process: its arguments (loopback, AOF, noeviction, maxmemory) and a readiness probe.
// Used by `npm start` for the local Redis and by the test harness for each suite's Redis.
import { createRedis } from './redis-client.ts';

/**
 * Arguments for a redis-server bound to loopback that never evicts; AOF on when `appendonly`; users
 * from `aclfile` (redis-acl.ts) when given, so no password is ever on the command line; `maxmemoryMb`
 * bounds it (with noeviction a write past the bound fails rather than dropping a key someone relies on).
 */
export function redisServerArgs(opts: {
  port: number;
  dir: string;
  appendonly: boolean;
  aclfile?: string;
  maxmemoryMb?: number;
}): string[] {
  return [
    '--port', String(opts.port),
    '--bind', '127.0.0.1',
    '--dir', opts.dir,
    '--save', '',
    '--appendonly', opts.appendonly ? 'yes' : 'no',
    '--appendfsync', opts.appendonly ? 'everysec' : 'no',
    '--maxmemory-policy', 'noeviction',
    ...(opts.maxmemoryMb ? ['--maxmemory', `${opts.maxmemoryMb}mb`] : []),
    '--protected-mode', 'yes',
    ...(opts.aclfile ? ['--aclfile', opts.aclfile] : []),
  ];
}

/** True when a Redis server answers PING at `url` (one attempt, no retries). */
export async function redisAnswers(url: string): Promise<boolean> {
  const c = createRedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {}); // a refused connection is an answer of "no", not a crash
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}
