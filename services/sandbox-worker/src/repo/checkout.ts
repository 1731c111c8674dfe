// Repository in: the worker (never the sandbox) fetches the repository into a per-worker bare mirror
// cache shared by every thread of that URL, makes a work tree from the mirror (local, no network,
// no credential), and streams it into the sandbox's workspace owned by the sandbox user. The work
// tree's .git/config names the clean URL only; the credential lives in one git process's env.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { GitFailed, runGit } from './git-run.ts';
import type { CheckoutPlan } from './repo-policy.ts';

/** The hidden ref that names a workspace's base commit (the checkout, or the first turn's snapshot). */
export const BASE_REF = 'refs/paddock/base';

export type CheckoutResult = { commit: string; mirror: 'created' | 'fetched' | 'cached' };

const mirrorLocks = new Map<string, Promise<unknown>>();

/** One fetch per mirror at a time on this worker: threads of one repository queue behind it. */
async function withMirrorLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const before = mirrorLocks.get(dir) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(fn);
  mirrorLocks.set(dir, mine);
  try {
    return await mine;
  } finally {
    if (mirrorLocks.get(dir) === mine) mirrorLocks.delete(dir);
  }
}

const mirrorDirOf = (cacheDir: string, url: string) =>
  join(cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 32)}.git`);

const isCommitId = (ref: string) => /^[0-9a-f]{40}$/.test(ref);

/** The mirror of `plan.url` with `plan.ref` in it: created, fetched, or (a known commit) as it is. */
export async function ensureMirror(
  cacheDir: string,
  plan: CheckoutPlan,
  signal: AbortSignal,
): Promise<{ dir: string; commit: string; mirror: CheckoutResult['mirror'] }> {
  const dir = mirrorDirOf(cacheDir, plan.url);
  const secrets = plan.authorization ? [plan.authorization] : [];
  const remote = { protocols: 'remote' as const, signal, secrets, ...(plan.authorization ? { authorization: plan.authorization } : {}) };
  const local = { protocols: 'local' as const, signal, cwd: dir };
  const resolveRef = () => runGit(['rev-parse', '--verify', '--quiet', '--end-of-options', `${plan.ref}^{commit}`], local).then((s) => s.trim());
  return withMirrorLock(dir, async () => {
    let mirror: CheckoutResult['mirror'] = 'fetched';
    if (!existsSync(dir)) {
      await mkdir(cacheDir, { recursive: true, mode: 0o700 });
      const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
      await rm(tmp, { recursive: true, force: true });
      try {
        await runGit(['clone', '--mirror', '--quiet', '--', plan.url, tmp], remote);
        await rename(tmp, dir);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      mirror = 'created';
    } else if (isCommitId(plan.ref) && (await resolveRef().catch(() => ''))) {
      mirror = 'cached'; // a commit never changes: no network at all
    } else {
      await runGit(['fetch', '--prune', '--quiet', '--', plan.url, '+refs/*:refs/*'], { ...remote, cwd: dir });
    }
    const commit = await resolveRef().catch(() => '');
    if (!commit) throw new GitFailed(`the ref "${plan.ref}" is not in the repository`);
    return { dir, commit, mirror };
  });
}

/**
 * A work tree of `plan.ref` at `dest` (created): a local clone of the mirror (objects hardlinked: the
 * tree is a temporary the sandbox never sees, it gets a tar copy, and git never rewrites an object
 * file), the clean URL as origin, the commit on a branch when the ref is one, BASE_REF on the commit.
 */
export async function makeWorkTree(
  cacheDir: string,
  plan: CheckoutPlan,
  dest: string,
  signal: AbortSignal,
): Promise<CheckoutResult> {
  const m = await ensureMirror(cacheDir, plan, signal);
  const local = { protocols: 'local' as const, signal };
  await runGit(['clone', '--quiet', '--no-checkout', '--local', '--', m.dir, dest], local);
  const inTree = { ...local, cwd: dest };
  await runGit(['remote', 'set-url', 'origin', plan.url], inTree);
  const isBranch = await runGit(['show-ref', '--verify', '--quiet', `refs/heads/${plan.ref}`], inTree).then(
    () => true,
    () => false,
  );
  if (isBranch) await runGit(['checkout', '--quiet', '-B', plan.ref, m.commit], inTree);
  else await runGit(['checkout', '--quiet', '--detach', m.commit], inTree);
  await runGit(['update-ref', BASE_REF, m.commit], inTree);
  return { commit: m.commit, mirror: m.mirror };
}

/** Streams a host directory into the container's /workspace, every entry owned by `uid:gid`. */
export async function copyIntoWorkspace(
  docker: Docker,
  containerId: string,
  dir: string,
  uidGid: string,
  signal: AbortSignal,
): Promise<void> {
  const [uid, gid] = uidGid.split(':');
  const tar = spawn('tar', ['-C', dir, `--owner=${uid}`, `--group=${gid}`, '--numeric-owner', '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    signal,
  });
  let tarErr = '';
  tar.stderr.on('data', (c: Buffer) => (tarErr = (tarErr + c.toString()).slice(-2000)));
  const exited = new Promise<void>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${tarErr.trim()}`))));
  });
  await Promise.all([docker.getContainer(containerId).putArchive(tar.stdout, { path: '/workspace' }), exited]);
}

/** The whole checkout into a sandbox: a work tree in a temporary dir, streamed in, then removed. */
export async function checkoutIntoSandbox(o: {
  docker: Docker;
  containerId: string;
  cacheDir: string;
  plan: CheckoutPlan;
  uidGid: string;
  signal: AbortSignal;
}): Promise<CheckoutResult> {
  await mkdir(o.cacheDir, { recursive: true, mode: 0o700 });
  const tmp = await mkdtemp(join(o.cacheDir, 'tree-'));
  try {
    const dest = join(tmp, 'w');
    const r = await makeWorkTree(o.cacheDir, o.plan, dest, o.signal);
    await copyIntoWorkspace(o.docker, o.containerId, dest, o.uidGid, o.signal);
    return r;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
