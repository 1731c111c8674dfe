// `npm run bench:checkout`: a generated repository of a few thousand files served by a real git
// smart-HTTP server on loopback (token required), checked out through the worker's checkout module
// (mirror cache → work tree → streamed into a container's /workspace volume) the first time (empty
// cache), again for a new branch head (cache fetched) and again at a known commit (no network), against
// a plain `git clone` over the same server in the same run. Containers and volumes carry this run's
// labels and are removed at the end. The last stdout line is one JSON object.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyIntoWorkspace, makeWorkTree, planCheckout } from '@paddock/sandbox-worker';
import { ensureDocker, removeLabeled, startGitServer, testRun } from '@paddock/testing';
import { ensureSandboxImage } from '@paddock/platform';

const FILES = Number(process.env['BENCH_CHECKOUT_FILES'] ?? 3000);
const SAMPLES = Number(process.env['BENCH_CHECKOUT_SAMPLES'] ?? 3);
const TOKEN = `bench-${process.pid}`;
const log = (line: string) => process.stderr.write(`${line}\n`);
const median = (xs: number[]) => Number([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1));

const gitEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const git = (args: string[], cwd: string) =>
  execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@b', '-c', 'init.defaultBranch=main', ...args], { cwd, env: gitEnv, encoding: 'utf8' }).trim();

const dir = mkdtempSync(join(tmpdir(), 'pdk-bench-checkout-'));
const docker = await ensureDocker();
const run = testRun('bench-checkout');
const image = await ensureSandboxImage(docker);
const server = await startGitServer(join(dir, 'served'), { token: TOKEN });
try {
  const src = join(dir, 'src');
  git(['init', '-q', src], dir);
  for (let i = 0; i < FILES; i++) {
    const sub = join(src, `pkg${i % 50}`, `mod${i % 7}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file${i}.ts`), `// file ${i}\n${'export const v = '.concat(String(i), ';\n').repeat(20 + (i % 40))}`);
  }
  git(['add', '-A'], src);
  git(['commit', '-qm', 'generated'], src);
  git(['clone', '-q', '--bare', src, join(dir, 'served', 'repo.git')], dir);
  const url = `${server.url}/repo.git`;
  const settings = {
    hosts: [server.host],
    credentials: { bench: { env_key: 'BENCH_GIT_TOKEN', hosts: [server.host] } },
    checkoutTimeoutMs: 300_000,
    diffMaxBytes: 1 << 20,
  };
  const env = { BENCH_GIT_TOKEN: TOKEN };

  // Plain `git clone` over HTTP with the same token (the baseline), into a local dir.
  const plain: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const dest = join(dir, `plain-${s}`);
    const t = performance.now();
    // Async: the git server answers from this same process.
    await promisify(execFile)(
      'git',
      ['-c', `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, 'clone', '-q', url, dest],
      { env: gitEnv },
    );
    plain.push(performance.now() - t);
    rmSync(dest, { recursive: true, force: true });
  }
  log(`plain git clone: ${plain.map((x) => x.toFixed(0)).join(', ')} ms`);

  let n = 0;
  const container = async () => {
    const name = `pdk-bench-co-${run.runId}-${n++}`;
    await docker.createVolume({ Name: name, Labels: run.labels });
    return docker.createContainer({
      name,
      Image: image,
      Cmd: ['true'],
      Labels: run.labels,
      HostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/workspace' }] },
    });
  };
  const cacheDir = join(dir, 'cache');
  const checkout = async (ref: string) => {
    const ctr = await container();
    const plan = planCheckout({ url, ref, credential: 'bench' }, settings, env);
    // The same two steps as checkoutIntoSandbox, timed apart: the work tree, then the copy in.
    const dest = join(dir, `tree-${n}`);
    const signal = AbortSignal.timeout(300_000);
    const t = performance.now();
    const r = await makeWorkTree(cacheDir, plan, dest, signal);
    const treeMs = performance.now() - t;
    await copyIntoWorkspace(docker, ctr.id, dest, '1000:1000', signal);
    const ms = performance.now() - t;
    rmSync(dest, { recursive: true, force: true });
    await ctr.remove({ force: true, v: true });
    log(`  checkout ${ref.slice(0, 12)}: work tree ${treeMs.toFixed(0)} ms, copy in ${(ms - treeMs).toFixed(0)} ms (${r.mirror})`);
    return { ms, treeMs, ...r };
  };
  const first = await checkout('main');
  log(`first checkout (empty mirror cache): ${first.ms.toFixed(0)} ms (${first.mirror})`);
  const fetched: number[] = [];
  const cached: number[] = [];
  const treeOnly: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const f = await checkout('main');
    if (f.mirror !== 'fetched') throw new Error(`expected a fetch, got ${f.mirror}`);
    fetched.push(f.ms);
    const k = await checkout(first.commit);
    if (k.mirror !== 'cached') throw new Error(`expected the cache, got ${k.mirror}`);
    cached.push(k.ms);
    treeOnly.push(k.treeMs);
  }
  log(`repeat checkout of a branch (mirror fetched): ${fetched.map((x) => x.toFixed(0)).join(', ')} ms`);
  log(`repeat checkout of a commit (mirror as is): ${cached.map((x) => x.toFixed(0)).join(', ')} ms`);
  const baseline = median(plain);
  console.log(
    JSON.stringify({
      bench: 'checkout',
      files: FILES,
      samples: SAMPLES,
      plain_git_clone_ms: baseline,
      first_checkout_ms: Number(first.ms.toFixed(1)),
      repeat_branch_checkout_ms: median(fetched),
      repeat_commit_checkout_ms: median(cached),
      repeat_commit_work_tree_ms: median(treeOnly),
      repeat_commit_vs_plain_clone_ratio: Number((median(cached) / baseline).toFixed(3)),
      repeat_commit_work_tree_vs_plain_clone_ratio: Number((median(treeOnly) / baseline).toFixed(3)),
      note: 'checkout = into a container /workspace volume; plain clone = a local dir, no container copy',
    }),
  );
} finally {
  await server.close();
  await removeLabeled(docker, run.runId);
  rmSync(dir, { recursive: true, force: true });
}
