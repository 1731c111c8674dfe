// A real redis-server on a free loopback port, started for one suite and stopped after it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './ports.ts';

export type RedisServer = {
  url: string;
  port: number;
  dir: string;
  /** A fresh client; closed by stop(). */
  client: () => Redis;
  /** Stops the server (SIGTERM: with AOF on, what was acknowledged is on disk) and starts it again on the same port and data. */
  restart: () => Promise<void>;
  stop: () => Promise<void>;
};

/** True when a Redis server answers PING at `url` (one attempt, no retries). */
export async function redisAnswers(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'paddock-redis-'));
  const clients: Redis[] = [];
  let proc: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.appendonly ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    '--protected-mode',
    'yes',
  ];
  const launch = async () => {
    const p = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    let failed: Error | undefined;
    p.on('error', (err) => {
      failed = new Error(`cannot start redis-server (apt-get install redis-server): ${err.message}`);
    });
    await waitFor(
      () => {
        if (failed) throw failed;
        return redisAnswers(`redis://127.0.0.1:${port}`);
      },
      10_000,
      `redis-server on port ${port}`,
    );
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    client: () => {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null });
      c.on('error', () => {}); // reconnects across restart(); a test asserts on commands, not on this
      clients.push(c);
      return c;
    },
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      for (const c of clients) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
