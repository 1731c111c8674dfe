// A real redis-server on a free loopback port, started for one suite and stopped after it. With
// `acl: true` it runs the cluster's ACL (redis-acl.ts): `url` and client() are the admin user, and
// urlFor(service) is what that service would be given.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  generateRedisPasswords,
  REDIS_ADMIN_USER,
  redisAclFile,
  type RedisPasswords,
  type RedisServiceUser,
  redisUrlFor,
} from '@paddock/contracts';
import { redisAnswers, redisServerArgs } from '@paddock/platform';
import { freePort, waitFor } from './ports.ts';

export type RedisServer = {
  /** Full access (the admin user in ACL mode). */
  url: string;
  /** The URL a service connects with: its own ACL user in ACL mode, else `url`. */
  urlFor: (service: RedisServiceUser) => string;
  /** The generated passwords in ACL mode. */
  passwords: RedisPasswords | undefined;
  port: number;
  dir: string;
  /** A fresh client; closed by stop(). */
  client: () => Redis;
  /**
   * Stops the server (SIGTERM: with AOF on, what was acknowledged is on disk; or the signal given,
   * e.g. SIGKILL for a crash) and starts it again on the same port and data.
   */
  restart: (o?: { signal?: NodeJS.Signals }) => Promise<void>;
  stop: () => Promise<void>;
};

export async function startRedis(
  opts: { appendonly?: boolean; acl?: boolean; maxmemoryMb?: number } = {},
): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'paddock-redis-'));
  const clients: Redis[] = [];
  let proc: ChildProcess | undefined;
  const plainUrl = `redis://127.0.0.1:${port}`;
  const passwords = opts.acl ? generateRedisPasswords() : undefined;
  let aclfile: string | undefined;
  if (passwords) {
    aclfile = join(dir, 'users.acl');
    writeFileSync(aclfile, redisAclFile(passwords), { mode: 0o600 });
  }
  const url = passwords ? redisUrlFor(plainUrl, REDIS_ADMIN_USER, passwords.admin) : plainUrl;
  const args = redisServerArgs({
    port,
    dir,
    appendonly: opts.appendonly ?? false,
    ...(aclfile ? { aclfile } : {}),
    ...(opts.maxmemoryMb ? { maxmemoryMb: opts.maxmemoryMb } : {}),
  });
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
        return redisAnswers(url);
      },
      10_000,
      `redis-server on port ${port}`,
    );
  };
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  };
  await launch();
  return {
    url,
    urlFor: (service) => (passwords ? redisUrlFor(plainUrl, service, passwords[service]) : plainUrl),
    passwords,
    port,
    dir,
    client: () => {
      const c = new Redis(url, { maxRetriesPerRequest: null });
      c.on('error', () => {}); // reconnects across restart(); a test asserts on commands, not on this
      clients.push(c);
      return c;
    },
    restart: async (o = {}) => {
      await kill(o.signal);
      await launch();
    },
    stop: async () => {
      for (const c of clients) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
