#!/usr/bin/env node
// Set-up shared by `npm start` and `npm test` (their `pre` hook). Plain JavaScript: it runs on the
// machine's own Node, before any dependency exists. Idempotent: each step checks before it acts.
//   1. npm ci when node_modules is missing or older than package-lock.json
//   2. on Debian/Ubuntu as root: apt-get install what is missing (redis-server, docker.io, debootstrap,
//      openssl, iptables, gcc + libc6-dev, tmux, git, redis-sentinel, haproxy, squid: TLS upstreams in
//      tests, the sandbox firewall, the exec launcher, the CLI's terminal tests, repository checkouts,
//      Redis HA and the guardians' balancer, the proxy benchmark's baseline)
//   3. dockerd started when no Docker engine answers
//   4. the sandbox base image built when absent (on the project's Node 24)
// PADDOCK_SKIP_SETUP=1 skips all of it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (line) => console.error(`[setup] ${line}`);
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    log(`failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
};

if (process.env.PADDOCK_SKIP_SETUP === '1') process.exit(0);

// 1. Dependencies: reinstalled when package-lock.json changed since the last install.
const lockHash = createHash('sha256')
  .update(readFileSync(join(root, 'package-lock.json')))
  .digest('hex');
const stamp = join(root, 'node_modules', '.paddock-lock-hash');
if (
  !existsSync(stamp) ||
  readFileSync(stamp, 'utf8') !== lockHash ||
  !existsSync(join(root, 'node_modules/.bin/node'))
) {
  log('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(stamp, lockHash);
}
// The web console's assets (npm ci's postinstall builds them; a checkout installed before may lack them).
if (!existsSync(join(root, 'packages/console/dist/index.html'))) {
  log('building the web console (packages/console)');
  run('npm', ['run', 'build', '-w', '@paddock/console']);
}

// 2. System packages.
const needed = [
  ['redis-server', 'redis-server'],
  ['dockerd', 'docker.io'],
  ['debootstrap', 'debootstrap'],
  ['openssl', 'openssl'],
  ['iptables', 'iptables'],
  // The sandbox worker compiles its small static exec launcher (Landlock) once, with cc.
  ['cc', 'gcc'],
  // The CLI's terminal tests drive `paddock exec` on a pseudo-terminal through tmux.
  ['tmux', 'tmux'],
  // The sandbox worker checks repositories out itself (mirror cache, work tree), and tests serve them.
  ['git', 'git'],
  // Redis HA (Sentinel) and the guardians' balancer: their tests run the real programs on loopback.
  ['redis-sentinel', 'redis-sentinel'],
  ['haproxy', 'haproxy'],
  // `npm run bench:proxy` measures the egress proxy against Debian's Squid in the same run.
  ['squid', 'squid'],
  // The console's browser tests drive Debian's Chromium (playwright-core, no browser download).
  ['chromium', 'chromium'],
].filter(([cmd]) => !have(cmd) && !existsSync(`/usr/sbin/${cmd}`));
// A static link needs the C library's archive (libc6-dev), which a bare gcc may lack.
if (!existsSync('/usr/lib/x86_64-linux-gnu/libc.a') && !existsSync('/usr/lib/aarch64-linux-gnu/libc.a')) {
  needed.push(['libc.a', 'libc6-dev']);
}
if (needed.length > 0) {
  const packages = needed.map(([, pkg]) => pkg);
  const isRoot = process.getuid?.() === 0;
  if (process.platform === 'linux' && isRoot && have('apt-get')) {
    log(`installing ${packages.join(', ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env });
  } else {
    log(
      `missing: ${packages.join(', ')}. Install them (Debian/Ubuntu: sudo apt-get install ${packages.join(' ')}) and run again.`,
    );
    process.exit(1);
  }
}

// 3. A Docker engine that answers.
// By path, not by package name: this hook runs on a fresh clone, before workspaces are linked.
// eslint-disable-next-line paddock/import-boundaries
const { ensureDockerEngine } = await import('../packages/testing/src/docker-engine.mjs');
try {
  const state = await ensureDockerEngine({ log });
  if (state === 'started') log('dockerd started');
} catch (err) {
  log(err.message);
  process.exit(1);
}

// 4. Sandbox images, built by the project's Node 24 (TypeScript).
run(join(root, 'node_modules/.bin/node'), [join(root, 'scripts/ensure-images.ts')]);
