// Makes sure a Docker engine answers: plain JavaScript so that the set-up script can use it on
// the machine's own (older) Node before any dependency is installed, and the TS harness too.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, rmSync } from 'node:fs';

/** True when `docker info` answers within a few seconds. */
export function dockerAnswers(dockerCli = 'docker') {
  const r = spawnSync(dockerCli, ['info', '--format', '{{.ServerVersion}}'], {
    timeout: 15_000,
    encoding: 'utf8',
  });
  return r.status === 0 && r.stdout.trim() !== '';
}

const findDockerd = () =>
  ['/usr/sbin/dockerd', '/usr/bin/dockerd', '/usr/local/bin/dockerd'].find((p) => existsSync(p));

/**
 * Starts `dockerd` in the background when no engine answers and this process runs as root.
 * Returns a description of what it did; throws with a clear message when it cannot.
 */
export async function ensureDockerEngine({ log = () => {}, timeoutMs = 60_000 } = {}) {
  if (dockerAnswers()) return 'running';
  const dockerd = findDockerd();
  if (!dockerd)
    throw new Error('no Docker engine answers and dockerd is not installed (apt-get install docker.io)');
  if (process.getuid?.() !== 0)
    throw new Error('no Docker engine answers; start dockerd (this process is not root)');
  // A killed daemon leaves its pid file; a new one refuses to start while it is there.
  for (const stale of ['/var/run/docker.pid', '/var/run/docker/containerd/containerd.pid']) {
    if (existsSync(stale)) rmSync(stale, { force: true });
  }
  log(`starting ${dockerd} (log: /tmp/paddock-dockerd.log)`);
  const out = openSync('/tmp/paddock-dockerd.log', 'a');
  const child = spawn(dockerd, [], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    if (dockerAnswers()) return 'started';
  }
  throw new Error(`dockerd did not answer within ${timeoutMs} ms; see /tmp/paddock-dockerd.log`);
}
