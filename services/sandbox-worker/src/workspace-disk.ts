// Workspace disks: a hard size for a sandbox's workspace. Each is an ext4 image file under the
// worker's data dir, attached to a loop device that Docker's local volume driver mounts; writing
// past it fails with ENOSPC inside that sandbox only. Each image has a record beside it (sandbox,
// worker, scope, expiry) so a reaper finds, detaches and deletes the ones it owns, and only those.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PaddockError } from '@paddock/platform';
import type { Logger } from 'pino';

const run = promisify(execFile);

/** The sandbox user owns the workspace root (a fresh ext4 root is root's). */
export const SANDBOX_UID_GID = '1000:1000';

export type DiskRecord = {
  sandboxId: string;
  volumeName: string;
  workerId: string;
  scope: Record<string, string>;
  expiresAt: number;
  sizeMb: number;
  /** Epoch ms; a disk whose volume is still missing well after this is an orphan whoever owns it. */
  createdAt?: number;
};

/** Longest a disk waits for its volume while being created (it is made milliseconds before it). */
export const DISK_CREATE_GRACE_MS = 2 * 60_000;

export type WorkspaceDisk = { imagePath: string; loopDevice: string };

export const workspacesDir = (dataDir: string) => join(dataDir, 'workspaces');
const imagePathOf = (dataDir: string, sandboxId: string) => join(workspacesDir(dataDir), `${sandboxId}.img`);
const recordPathOf = (imagePath: string) => `${imagePath}.json`;

/**
 * Why loop-device quotas cannot work here, or undefined when they can: the tools are there and a
 * trial image under the data dir attaches and detaches (a container may see /dev/loop-control
 * without the right to use it).
 */
export async function loopDevicesUnavailable(dataDir: string): Promise<string | undefined> {
  if (!existsSync('/dev/loop-control')) return 'no /dev/loop-control';
  for (const [tool, args] of [
    ['losetup', ['--version']],
    ['mkfs.ext4', ['-V']],
  ] as const) {
    const found = await run(tool, [...args]).then(
      () => true,
      () => false,
    );
    if (!found) return `${tool} is not installed`;
  }
  const trial = join(workspacesDir(dataDir), `probe-${process.pid}.img`);
  try {
    await mkdir(workspacesDir(dataDir), { recursive: true, mode: 0o700 });
    await writeFile(trial, Buffer.alloc(1024 * 1024));
    const { stdout } = await run('losetup', ['--find', '--show', trial]);
    await run('losetup', ['--detach', stdout.trim()]);
    return undefined;
  } catch (err) {
    return `a trial loop device under ${dataDir} failed: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await rm(trial, { force: true });
  }
}

/**
 * The quota a worker runs with: `requestedMb` when loop devices work; where they do not, a quota the
 * operator set explicitly refuses to start (fail closed), the default one is dropped with a warning.
 */
export async function effectiveDiskQuotaMb(
  requestedMb: number,
  explicit: boolean,
  logger: Logger | undefined,
  probe: () => Promise<string | undefined>,
): Promise<number> {
  if (requestedMb <= 0) return 0;
  const missing = await probe();
  if (!missing) return requestedMb;
  if (explicit)
    throw new PaddockError(
      'disk_quota_unavailable',
      `[sandbox_worker.limits] workspace_disk_mb = ${requestedMb} needs loop devices: ${missing}`,
      { status: 500, field: 'sandbox_worker.limits.workspace_disk_mb' },
    );
  logger?.warn({ missing }, 'loop devices unavailable: workspaces run without a disk quota');
  return 0;
}

/** Makes the image (sparse), its ext4 filesystem owned by the sandbox user, and attaches it. */
export async function createWorkspaceDisk(dataDir: string, record: DiskRecord): Promise<WorkspaceDisk> {
  await mkdir(workspacesDir(dataDir), { recursive: true, mode: 0o700 });
  const imagePath = imagePathOf(dataDir, record.sandboxId);
  // The record first: a worker dying half-way still leaves something its reaper can find.
  await writeFile(recordPathOf(imagePath), JSON.stringify(record), { mode: 0o600 });
  try {
    const file = await open(imagePath, 'wx', 0o600);
    await file.truncate(record.sizeMb * 1024 * 1024);
    await file.close();
    await run('mkfs.ext4', [
      '-q',
      '-F',
      '-m',
      '0',
      '-E',
      `lazy_itable_init=1,lazy_journal_init=1,root_owner=${SANDBOX_UID_GID}`,
      imagePath,
    ]);
    // The workspace is a git work tree: no root-owned lost+found in it (best effort).
    await run('debugfs', ['-w', '-R', 'rmdir lost+found', imagePath]).catch(() => undefined);
    const { stdout } = await run('losetup', ['--find', '--show', imagePath]);
    const loopDevice = stdout.trim();
    if (!/^\/dev\/loop\d+$/.test(loopDevice)) throw new Error(`losetup answered ${JSON.stringify(loopDevice)}`);
    return { imagePath, loopDevice };
  } catch (err) {
    await removeWorkspaceDisk(imagePath).catch(() => undefined);
    throw new PaddockError('workspace_disk_failed', `workspace disk for ${record.sandboxId}: ${(err as Error).message}`, {
      status: 503,
    });
  }
}

/** Detaches every loop device backed by the image, then deletes it and its record. Idempotent. */
export async function removeWorkspaceDisk(imagePath: string): Promise<void> {
  // Only a file this module names (a label could be edited by whoever holds the engine).
  if (!/\/workspaces\/sbx_[0-9a-f]+\.img$/.test(imagePath))
    throw new PaddockError('bad_disk_path', `not a workspace disk image: ${imagePath}`, { status: 500 });
  if (existsSync(imagePath)) {
    const { stdout } = await run('losetup', ['--associated', imagePath]);
    for (const line of stdout.split('\n')) {
      const device = line.split(':')[0]?.trim();
      if (device && /^\/dev\/loop\d+$/.test(device)) await run('losetup', ['--detach', device]);
    }
  }
  await rm(imagePath, { force: true });
  await rm(recordPathOf(imagePath), { force: true });
}

/** The disks under the data dir whose records carry all of `scope`'s labels. */
export async function listWorkspaceDisks(
  dataDir: string,
  scope: Record<string, string> = {},
): Promise<{ imagePath: string; record: DiskRecord }[]> {
  const dir = workspacesDir(dataDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: { imagePath: string; record: DiskRecord }[] = [];
  for (const name of names) {
    if (!name.endsWith('.img.json')) continue;
    const record = await readFile(join(dir, name), 'utf8')
      .then((t) => JSON.parse(t) as DiskRecord)
      .catch(() => undefined);
    if (!record) continue;
    if (!Object.entries(scope).every(([k, v]) => record.scope?.[k] === v)) continue;
    found.push({ imagePath: join(dir, name.slice(0, -'.json'.length)), record });
  }
  return found;
}
