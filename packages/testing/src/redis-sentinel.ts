// A real Redis HA group on loopback for one suite: a primary and a replica (both with the cluster's
// ACL, AOF on) and three redis-sentinel processes watching them; urlFor(service) is the
// redis-sentinel:// URL that service would be given. Every process is stopped and its dir removed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  generateRedisPasswords,
  REDIS_ADMIN_USER,
  redisAclFile,
  type RedisPasswords,
  type RedisServiceUser,
} from '@paddock/contracts';
import { redisAnswers, redisServerArgs } from '@paddock/platform';
import { freePort, waitFor } from './ports.ts';

export const SENTINEL_PRIMARY_NAME = 'paddock';

export type SentinelGroup = {
  passwords: RedisPasswords;
  /** Data node ports: [first primary, first replica]. */
  dataPorts: [number, number];
  sentinelPorts: number[];
  urlFor: (service: RedisServiceUser) => string;
  /** The port Sentinel names as primary now. */
  primaryPort: () => Promise<number>;
  /** SENTINEL FAILOVER, then waits (bounded) until the sentinels and the new primary agree on it. */
  failover: () => Promise<{ from: number; to: number }>;
  /** An admin client of one data node. */
  adminClient: (port: number) => Redis;
  stop: () => Promise<void>;
};

export async function startSentinelGroup(): Promise<SentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-sentinel-'));
  const passwords = generateRedisPasswords();
  const procs: ChildProcess[] = [];
  const clients: Redis[] = [];
  const aclfile = join(dir, 'users.acl');
  writeFileSync(aclfile, redisAclFile(passwords), { mode: 0o600 });
  const dataPorts: [number, number] = [await freePort(), await freePort()];
  const sentinelPorts = [await freePort(), await freePort(), await freePort()];
  const spawnChecked = (cmd: string, args: string[]) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    p.on('error', () => {}); // reported by the readiness wait below
    procs.push(p);
    return p;
  };
  const admin = (port: number) => `redis://${REDIS_ADMIN_USER}:${encodeURIComponent(passwords.admin)}@127.0.0.1:${port}`;

  for (const [i, port] of dataPorts.entries()) {
    const nodeDir = join(dir, `node${i}`);
    mkdirSync(nodeDir);
    // Both nodes know how to authenticate to a primary: after a failover the old primary becomes a replica.
    const conf = join(nodeDir, 'replication.conf');
    writeFileSync(
      conf,
      [
        `masteruser ${REDIS_ADMIN_USER}`,
        `masterauth ${passwords.admin}`,
        // As in compose's HA profile: a primary cut off from its replica refuses writes (they would be
        // lost when it rejoins as a replica), so clients move to the promoted one.
        'min-replicas-to-write 1',
        'min-replicas-max-lag 10',
        ...(i === 1 ? [`replicaof 127.0.0.1 ${dataPorts[0]}`] : []),
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    spawnChecked('redis-server', [conf, ...redisServerArgs({ port, dir: nodeDir, appendonly: true, aclfile })]);
    await waitFor(() => redisAnswers(admin(port)), 10_000, `redis-server on port ${port}`);
  }
  for (const [i, port] of sentinelPorts.entries()) {
    const sDir = join(dir, `sentinel${i}`);
    mkdirSync(sDir);
    // Sentinel rewrites its own config file (what it learned): one writable file per sentinel.
    const conf = join(sDir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${sDir}`,
        `sentinel monitor ${SENTINEL_PRIMARY_NAME} 127.0.0.1 ${dataPorts[0]} 2`,
        `sentinel auth-user ${SENTINEL_PRIMARY_NAME} ${REDIS_ADMIN_USER}`,
        `sentinel auth-pass ${SENTINEL_PRIMARY_NAME} ${passwords.admin}`,
        `sentinel down-after-milliseconds ${SENTINEL_PRIMARY_NAME} 2000`,
        `sentinel failover-timeout ${SENTINEL_PRIMARY_NAME} 10000`,
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    spawnChecked('redis-sentinel', [conf]);
  }
  const sentinel = new Redis({ port: sentinelPorts[0]!, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: false });
  sentinel.on('error', () => {});
  clients.push(sentinel);
  const primaryPort = async () => {
    const [, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_PRIMARY_NAME)) as [string, string];
    return Number(port);
  };
  const adminClient = (port: number) => {
    const c = new Redis(admin(port), { maxRetriesPerRequest: null });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  // Ready: the replica caught up, and every sentinel sees the replica and the other sentinels.
  await waitFor(
    async () => {
      const info = await adminClient(dataPorts[1]).info('replication');
      if (!/master_link_status:up/.test(info)) return false;
      const replicas = (await sentinel.call('SENTINEL', 'replicas', SENTINEL_PRIMARY_NAME)) as unknown[];
      const others = (await sentinel.call('SENTINEL', 'sentinels', SENTINEL_PRIMARY_NAME)) as unknown[];
      return replicas.length === 1 && others.length === 2;
    },
    30_000,
    'sentinel group ready (replica in sync, three sentinels)',
  );
  const url = (user: string, password: string) =>
    `redis-sentinel://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${sentinelPorts
      .map((p) => `127.0.0.1:${p}`)
      .join(',')}/${SENTINEL_PRIMARY_NAME}`;
  return {
    passwords,
    dataPorts,
    sentinelPorts,
    urlFor: (service) => url(service, passwords[service]),
    primaryPort,
    adminClient,
    failover: async () => {
      const from = await primaryPort();
      // A planned failover, as an operator runs one: first let the replica catch up (replication is
      // asynchronous; SENTINEL FAILOVER itself does not wait for it).
      const replicaPort = dataPorts.find((p) => p !== from)!;
      await waitFor(
        async () => {
          const offset = (info: string) => Number(/(?:master_repl_offset|slave_repl_offset):(\d+)/.exec(info)?.[1] ?? -1);
          const primaryOffset = offset(await adminClient(from).info('replication'));
          const replicaOffset = Number(/slave_repl_offset:(\d+)/.exec(await adminClient(replicaPort).info('replication'))?.[1] ?? -1);
          return replicaOffset >= primaryOffset && primaryOffset > 0;
        },
        10_000,
        'replica caught up',
      );
      await sentinel.call('SENTINEL', 'failover', SENTINEL_PRIMARY_NAME);
      let to = from;
      await waitFor(
        async () => {
          to = await primaryPort();
          if (to === from) return false;
          const role = await adminClient(to).info('replication');
          return /role:master/.test(role);
        },
        30_000,
        'sentinel failover done',
      );
      return { from, to };
    },
    stop: async () => {
      for (const c of clients) c.disconnect();
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null || p.signalCode !== null) return resolve();
              p.once('exit', () => resolve());
              p.kill('SIGTERM');
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
