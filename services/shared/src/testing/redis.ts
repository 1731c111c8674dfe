// A real redis-server on a free loopback port, started for one suite and stopped after it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisAnswers, redisServerArgs } from '../redis-server.ts';
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

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'paddock-redis-'));
  const clients: Redis[] = [];
  let proc: ChildProcess | undefined;
  const args = redisServerArgs({ port, dir, appendonly: opts.appendonly ?? false });
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
