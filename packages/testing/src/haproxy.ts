// A real HAProxy on a loopback port for one suite or bench, running compose's own guardian-lb
// config (docker/guardian-lb.haproxy.cfg) with its DNS server-template swapped for the given
// loopback servers, so what is tested is what compose runs. Stopped (by its pid) and its dir removed.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@paddock/platform';
import { freePort, waitFor } from './ports.ts';

export const GUARDIAN_LB_CONFIG = join(REPO_ROOT, 'docker/guardian-lb.haproxy.cfg');

export type Haproxy = { url: string; pid: number | undefined; proc: ChildProcess; stop: () => Promise<void> };

/** The compose config for loopback: bind `port` on 127.0.0.1, these servers, no Docker DNS. */
export function guardianLbConfigFor(servers: { host: string; port: number }[], port: number): string {
  const text = readFileSync(GUARDIAN_LB_CONFIG, 'utf8');
  const template = /^\s*server-template guardian .*$/m;
  if (!template.test(text)) throw new Error(`${GUARDIAN_LB_CONFIG}: no server-template guardian line`);
  return text
    .replace(/^resolvers docker\n(?:[ \t]+.*\n|[ \t]*#.*\n)*/m, '')
    .replace(/^\s*bind 0\.0\.0\.0:8081$/m, `    bind 127.0.0.1:${port}`)
    .replace(/^\s*log stdout .*$/m, '    log stderr format raw local0 warning')
    .replace(template, servers.map((s, i) => `    server guardian${i + 1} ${s.host}:${s.port}`).join('\n'));
}

export async function startGuardianLb(servers: { host: string; port: number }[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-haproxy-'));
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, guardianLbConfigFor(servers, port));
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  let failed: Error | undefined;
  proc.on('error', (err) => {
    failed = new Error(`cannot start haproxy (apt-get install haproxy): ${err.message}`);
  });
  proc.on('exit', (code) => {
    failed ??= new Error(`haproxy exited (${code}); its config: ${cfg}`);
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await once(proc, 'exit');
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => {
        if (failed) throw failed;
        return new Promise<boolean>((resolve) => {
          const s = connect(port, '127.0.0.1', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        });
      },
      10_000,
      `haproxy on port ${port}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid, proc, stop };
}
