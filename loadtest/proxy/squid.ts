// Debian's Squid for the benchmark: its own config (same allowlist as the Paddock proxy: one
// name, one port), pid/log dirs under a temp dir, no cache, an access log like Paddock's records.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@paddock/testing';

export type Squid = { port: number; pid: number | undefined; stop: () => Promise<void> };

export async function startSquid(opts: {
  port: number;
  allowedHost: string;
  address: string;
  upstreamPort: number;
}): Promise<Squid> {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-squid-'));
  writeFileSync(join(dir, 'hosts'), `${opts.address} ${opts.allowedHost}\n`);
  writeFileSync(
    join(dir, 'squid.conf'),
    [
      `http_port 127.0.0.1:${opts.port}`,
      'workers 1',
      `pid_filename ${join(dir, 'squid.pid')}`,
      `cache_log ${join(dir, 'cache.log')}`,
      `access_log stdio:${join(dir, 'access.log')}`,
      `coredump_dir ${dir}`,
      'cache deny all',
      'cache_mem 8 MB',
      `hosts_file ${join(dir, 'hosts')}`,
      'dns_v4_first on',
      'visible_hostname paddock-bench',
      'shutdown_lifetime 0 seconds',
      `acl allowed_dst dstdomain ${opts.allowedHost}`,
      `acl allowed_ports port ${opts.upstreamPort}`,
      'http_access deny !allowed_ports',
      'http_access allow allowed_dst',
      'http_access deny all',
      '',
    ].join('\n'),
  );
  // Squid drops to the `proxy` user: its files must be that user's.
  execFileSync('chown', ['-R', 'proxy:proxy', dir]);
  const proc: ChildProcess = spawn('/usr/sbin/squid', ['-N', '-f', join(dir, 'squid.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: opts.port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  try {
    await waitFor(() => proc.exitCode === null && listening(), 20_000, `squid (${stderr.slice(0, 500)})`);
  } catch (err) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port: opts.port,
    pid: proc.pid, // -N: the one process that serves
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
