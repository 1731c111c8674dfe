// The sandbox images: built from sandbox-images/<name>/ and tagged by a content hash of their
// inputs, so an unchanged image is never rebuilt and a changed one always is. Also the operator's
// image allowlist: the only images an environment may name and a worker may start a sandbox from.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SANDBOX_IMAGES_DIR = join(REPO_ROOT, 'sandbox-images');
/** The Debian base made from Debian's packages by sandbox-images/build-local-base.sh. */
export const LOCAL_DEBIAN_BASE = 'paddock/debian:bookworm-local';

function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesUnder(path) : [path];
    });
}

/** sha256 over the image's files (names and bytes) and its base, first 16 hex digits. */
export function imageContentHash(name: string, baseImage: string): string {
  const dir = join(SANDBOX_IMAGES_DIR, name);
  const h = createHash('sha256').update(`base=${baseImage}\n`);
  for (const file of filesUnder(dir)) h.update(`${relative(dir, file)}\n`).update(readFileSync(file));
  return h.digest('hex').slice(0, 16);
}

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

/** The base the sandbox Dockerfiles build FROM: PADDOCK_SANDBOX_BASE, else the local Debian image (built when absent). */
export async function ensureDebianBase(
  docker: Docker,
  log: (line: string) => void = () => {},
): Promise<string> {
  const configured = process.env['PADDOCK_SANDBOX_BASE'];
  if (configured) return configured;
  if (await imageExists(docker, LOCAL_DEBIAN_BASE)) return LOCAL_DEBIAN_BASE;
  log(`building ${LOCAL_DEBIAN_BASE} from Debian's packages (debootstrap; about a minute)`);
  const r = spawnSync('bash', [join(SANDBOX_IMAGES_DIR, 'build-local-base.sh'), LOCAL_DEBIAN_BASE], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`build-local-base.sh failed (exit ${r.status})`);
  return LOCAL_DEBIAN_BASE;
}

/**
 * Builds `paddock/sandbox-<name>:<hash>` when absent and returns its tag. The build context is
 * sandbox-images/<name>/; `BASE_IMAGE` is passed as a build argument.
 */
export async function ensureSandboxImage(
  docker: Docker,
  name = 'base',
  log: (line: string) => void = () => {},
): Promise<string> {
  const base = await ensureDebianBase(docker, log);
  const tag = `paddock/sandbox-${name}:${imageContentHash(name, base)}`;
  if (await imageExists(docker, tag)) return tag;
  log(`building ${tag}`);
  const dir = join(SANDBOX_IMAGES_DIR, name);
  const stream = await docker.buildImage(
    { context: dir, src: filesUnder(dir).map((f) => relative(dir, f)) },
    { t: tag, buildargs: { BASE_IMAGE: base }, labels: { 'paddock.image': name }, rm: true, forcerm: true },
  );
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
        const failed = err?.message ?? output.find((o) => o.error)?.error;
        if (failed) reject(new Error(`docker build of ${tag} failed: ${failed}`));
        else resolve();
      },
      (event: { stream?: string }) => {
        const line = event.stream?.trim();
        if (line?.startsWith('Step ')) log(line);
      },
    );
  });
  await docker.getImage(tag).tag({ repo: `paddock/sandbox-${name}`, tag: 'latest' });
  return tag;
}

/** The images this repository builds (sandbox-images/<name>/); a test holds the list to that directory. */
export const BUILT_SANDBOX_IMAGE_NAMES: readonly string[] = ['base'];

/** `[sandbox_worker] allowed_images` unset: any tag of the sandbox images the cluster builds. */
export const DEFAULT_ALLOWED_IMAGES: readonly string[] = BUILT_SANDBOX_IMAGE_NAMES.map(
  (name) => `paddock/sandbox-${name}:*`,
);

/** `repo` without a tag or digest means `repo:latest`, as Docker reads it. */
export function normalizeImageRef(ref: string): string {
  if (ref.includes('@')) return ref;
  const lastSegment = ref.slice(ref.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? ref : `${ref}:latest`;
}

const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Whether `ref` is on the allowlist: an entry is an exact image reference, or `repo:*` for any tag
 * of that repository (never a digest, never another repository). Pure: the engine is not asked, so
 * the answer says nothing about which images exist.
 */
export function imageAllowed(allowed: readonly string[], ref: string): boolean {
  const wanted = normalizeImageRef(ref.trim());
  return allowed.some((entry) => {
    if (!entry.endsWith(':*')) return normalizeImageRef(entry) === wanted;
    const repo = entry.slice(0, -2);
    if (!wanted.startsWith(`${repo}:`)) return false;
    return TAG_PATTERN.test(wanted.slice(repo.length + 1));
  });
}

/** The allowlist of a cluster file: `allowed_images`, else the built images; the worker's own `image` always. */
export function allowedImages(file: { sandbox_worker?: { image?: string; allowed_images?: string[] } }): string[] {
  const s = file.sandbox_worker ?? {};
  const list = [...(s.allowed_images ?? DEFAULT_ALLOWED_IMAGES)];
  if (s.image) list.push(s.image);
  return list;
}

/** The one refusal, worded the same whether or not the image exists on any engine. */
export function imageNotAllowedMessage(ref: string): string {
  return `image ${JSON.stringify(ref)} is not in the cluster's allowed images ([sandbox_worker] allowed_images, set by the operator)`;
}
