// The files API's work on one thread's workspace, streamed end to end: bodies go through tar-stream
// into Docker's archive API (putArchive/getArchive) and back, never whole in memory. Every path is
// resolved inside the workspace with the container's own view (realpath in the sandbox): `..`,
// absolute paths and symlinks that leave the workspace are a 400 naming the path; sizes past the
// limit are a 413.
import { once } from 'node:events';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { PaddockError } from '@paddock/platform';
import tar from 'tar-stream';
import { WORKSPACE_DIR } from '../exec-modes.ts';
import type { Sandbox } from '../sandbox.ts';

export type PathKind = 'file' | 'dir' | 'symlink' | 'other' | 'none';
export type ResolvedPath = { rel: string; abs: string; kind: PathKind; size: number };

const SANDBOX_UID = 1000;
const SANDBOX_GID = 1000;

export const badPath = (path: string, why: string) =>
  new PaddockError('bad_path', `path ${JSON.stringify(path)} ${why}`, { status: 400, field: 'path' });

export const tooLarge = (limitBytes: number) =>
  new PaddockError('too_large', `the body is over the ${limitBytes}-byte limit ([sandbox_worker] files_max_upload_bytes)`, {
    status: 413,
    field: 'body',
  });

/** The path as the tenant gave it, relative to the workspace: refused before anything runs. */
export function checkRelativePath(path: string): string {
  if (path.includes('\0')) throw badPath(path, 'contains a NUL byte');
  if (path.startsWith('/')) throw badPath(path, 'is absolute; give a path inside the workspace');
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw badPath(path, 'contains ".."');
  return segments.join('/') || '.';
}

/**
 * Resolves `path` in the running sandbox (symlinks followed as the container sees them) and says
 * what it is; a result outside the workspace is refused.
 */
export async function resolveInWorkspace(sandbox: Sandbox, path: string): Promise<ResolvedPath> {
  const rel = checkRelativePath(path);
  const target = rel === '.' ? WORKSPACE_DIR : `${WORKSPACE_DIR}/${rel}`;
  // realpath -m: every existing symlink resolved, missing tails kept; then what the target is.
  const script =
    'r=$(realpath -m -- "$1") || exit 3; printf "%s\\n" "$r"; ' +
    'if [ -L "$r" ]; then echo symlink 0; elif [ -d "$r" ]; then echo dir 0; ' +
    'elif [ -f "$r" ]; then echo file "$(stat -c %s -- "$r")"; elif [ -e "$r" ]; then echo other 0; else echo none 0; fi';
  const r = await sandbox.exec({ argv: ['sh', '-c', script, 'resolve', target], mode: 'read-only', timeoutMs: 10_000 });
  const [real = '', what = ''] = r.stdout.text.split('\n');
  if (r.exitCode !== 0 || !real)
    throw new PaddockError('resolve_failed', `could not resolve ${JSON.stringify(path)}: ${r.stderr.text.trim()}`, { status: 502 });
  if (real !== WORKSPACE_DIR && !real.startsWith(`${WORKSPACE_DIR}/`))
    throw badPath(path, 'resolves outside the workspace (a symlink leaves it)');
  const [kind = 'none', size = '0'] = what.split(' ');
  return { rel, abs: real, kind: kind as PathKind, size: Number(size) };
}

async function mkdirs(sandbox: Sandbox, absDir: string): Promise<void> {
  if (absDir === WORKSPACE_DIR) return;
  const r = await sandbox.exec({ argv: ['mkdir', '-p', '--', absDir], mode: 'workspace-write', timeoutMs: 10_000 });
  if (r.exitCode !== 0)
    throw new PaddockError('mkdir_failed', `cannot create ${absDir}: ${r.stderr.text.trim()}`, { status: 409, field: 'path' });
}

/** Copies `from` into `to` with backpressure, failing past `limitBytes`; returns the bytes copied. */
async function pump(from: AsyncIterable<Buffer>, to: Writable, limitBytes: number): Promise<number> {
  let bytes = 0;
  for await (const chunk of from) {
    bytes += chunk.length;
    if (bytes > limitBytes) throw tooLarge(limitBytes);
    if (!to.write(chunk)) await once(to, 'drain');
  }
  return bytes;
}

/** One file from a body of `sizeBytes` (its Content-Length): a one-entry tar into putArchive. */
export async function putFile(
  sandbox: Sandbox,
  path: string,
  body: Readable,
  sizeBytes: number,
  limitBytes: number,
): Promise<ResolvedPath> {
  if (sizeBytes > limitBytes) throw tooLarge(limitBytes);
  const target = await resolveInWorkspace(sandbox, path);
  if (target.abs === WORKSPACE_DIR || target.kind === 'dir') throw badPath(path, 'is a directory');
  if (target.kind === 'other') throw badPath(path, 'is not a regular file');
  const dir = posix.dirname(target.abs);
  await mkdirs(sandbox, dir);
  const pack = tar.pack();
  const upload = sandbox.container.putArchive(pack, { path: dir });
  const entry = pack.entry({
    name: posix.basename(target.abs),
    size: sizeBytes,
    mode: 0o644,
    uid: SANDBOX_UID,
    gid: SANDBOX_GID,
    mtime: new Date(),
    type: 'file',
  });
  try {
    const written = await pump(body, entry, Math.min(sizeBytes, limitBytes));
    if (written !== sizeBytes) throw new PaddockError('short_body', `got ${written} of ${sizeBytes} bytes`, { status: 400, field: 'body' });
    entry.end();
    pack.finalize();
    await drainResponse(await upload);
  } catch (err) {
    pack.destroy(err as Error);
    await upload.catch(() => undefined);
    throw err;
  }
  return { ...target, kind: 'file', size: sizeBytes };
}

/** The file's bytes as a stream with its size; a directory or a missing path is refused. */
export async function getFile(sandbox: Sandbox, path: string): Promise<{ size: number; stream: Readable }> {
  const target = await resolveInWorkspace(sandbox, path);
  if (target.kind === 'none') throw new PaddockError('not_found', `no file at ${JSON.stringify(path)}`, { status: 404, field: 'path' });
  if (target.kind !== 'file') throw badPath(path, 'is not a regular file (use the archive for a directory)');
  const archive = (await sandbox.container.getArchive({ path: target.abs })) as Readable;
  const extract = tar.extract();
  archive.pipe(extract);
  archive.on('error', (err) => extract.destroy(err));
  const iterator = extract[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new PaddockError('archive_empty', `no entry for ${JSON.stringify(path)}`, { status: 502 });
  const entry = first.value as Readable & { header: tar.Headers };
  if (entry.header.type !== 'file') {
    extract.destroy();
    throw badPath(path, 'is not a regular file');
  }
  // The rest of the archive (nothing, for one file) is drained once the entry has been read.
  entry.on('end', () => {
    void (async () => {
      for (let n = await iterator.next(); !n.done; n = await iterator.next()) (n.value as Readable).resume();
    })().catch(() => undefined);
  });
  return { size: entry.header.size ?? target.size, stream: entry };
}

/** A directory as Docker's tar (its top entry is the directory's own name). */
export async function getDirArchive(sandbox: Sandbox, path: string): Promise<Readable> {
  const target = await resolveInWorkspace(sandbox, path);
  if (target.kind === 'none') throw new PaddockError('not_found', `nothing at ${JSON.stringify(path)}`, { status: 404, field: 'path' });
  if (target.kind !== 'dir') throw badPath(path, 'is not a directory');
  return (await sandbox.container.getArchive({ path: target.abs })) as Readable;
}

/** The tar entry's name inside the target directory, or a 400 naming it. */
function checkEntry(header: tar.Headers): void {
  const name = header.name;
  if (name.startsWith('/') || name.split('/').includes('..')) throw badPath(name, 'in the archive leaves the target directory');
  if (header.type === 'symlink') {
    const link = header.linkname ?? '';
    const resolved = posix.normalize(posix.join(posix.dirname(name), link));
    if (link.startsWith('/') || resolved === '..' || resolved.startsWith('../'))
      throw badPath(name, `in the archive is a symlink leaving the target directory (${link})`);
    return;
  }
  if (header.type !== 'file' && header.type !== 'directory' && header.type !== 'contiguous-file')
    throw badPath(name, `in the archive is a ${header.type ?? 'special'} entry (only files, directories and symlinks)`);
}

/**
 * A tar into a workspace directory (created when missing): each entry checked (no escaping names or
 * symlinks, no devices or hard links), owned by the sandbox user, no set-id bits, at most `limitBytes`
 * of content; re-packed on the fly into putArchive.
 */
export async function putDirArchive(
  sandbox: Sandbox,
  path: string,
  body: Readable,
  limitBytes: number,
): Promise<{ entries: number; bytes: number }> {
  const target = await resolveInWorkspace(sandbox, path);
  if (target.kind !== 'dir' && target.kind !== 'none') throw badPath(path, 'is not a directory');
  await mkdirs(sandbox, target.abs);
  const extract = tar.extract();
  const pack = tar.pack();
  const upload = sandbox.container.putArchive(pack, { path: target.abs });
  body.on('error', (err) => extract.destroy(err));
  body.pipe(extract);
  let entries = 0;
  let bytes = 0;
  try {
    for await (const item of extract) {
      const entry = item as Readable & { header: tar.Headers };
      const h = entry.header;
      checkEntry(h);
      entries++;
      const out = pack.entry({
        name: h.name,
        type: h.type === 'contiguous-file' ? 'file' : h.type,
        size: h.type === 'file' || h.type === 'contiguous-file' ? h.size : 0,
        mode: (h.mode ?? (h.type === 'directory' ? 0o755 : 0o644)) & 0o777,
        mtime: h.mtime,
        linkname: h.linkname,
        uid: SANDBOX_UID,
        gid: SANDBOX_GID,
      });
      bytes += await pump(entry, out, limitBytes - bytes);
      out.end();
    }
    pack.finalize();
    await drainResponse(await upload);
  } catch (err) {
    pack.destroy(err as Error);
    body.unpipe(extract);
    body.resume();
    await upload.catch(() => undefined);
    throw err;
  }
  return { entries, bytes };
}

/** Docker's answer to putArchive: a stream to drain, or (for an empty body) already consumed. */
async function drainResponse(res: unknown): Promise<void> {
  if (!res || typeof (res as Readable).resume !== 'function') return;
  (res as Readable).resume();
  if ((res as Readable).readableEnded) return;
  await once(res as Readable, 'end').catch(() => undefined);
}

export type ListEntry = { name: string; type: string; size: number; mtime_ms: number };

export async function listDir(sandbox: Sandbox, path: string): Promise<ListEntry[]> {
  const target = await resolveInWorkspace(sandbox, path);
  if (target.kind === 'none') throw new PaddockError('not_found', `nothing at ${JSON.stringify(path)}`, { status: 404, field: 'path' });
  if (target.kind !== 'dir') throw badPath(path, 'is not a directory');
  const entries = await sandbox.listDir(target.abs);
  return entries
    .map((e) => ({ name: e.name, type: e.type, size: e.size, mtime_ms: Math.round(e.mtimeMs) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function deletePath(sandbox: Sandbox, path: string, recursive: boolean): Promise<void> {
  const rel = checkRelativePath(path);
  if (rel === '.') throw badPath(path, 'is the workspace itself');
  // Not resolved: deleting a symlink removes the link, never what it points to; its parent must stay inside.
  const parent = await resolveInWorkspace(sandbox, posix.dirname(rel));
  const abs = `${parent.abs}/${posix.basename(rel)}`;
  const r = await sandbox.exec({
    argv: ['sh', '-c', '[ -e "$1" ] || [ -L "$1" ] || exit 4; rm $2 -f -- "$1"', 'rm', abs, recursive ? '-r' : ''],
    mode: 'workspace-write',
    timeoutMs: 60_000,
  });
  if (r.exitCode === 4) throw new PaddockError('not_found', `nothing at ${JSON.stringify(path)}`, { status: 404, field: 'path' });
  if (r.exitCode !== 0)
    throw new PaddockError('delete_failed', r.stderr.text.trim() || `rm exited ${r.exitCode}`, { status: 409, field: 'path' });
}

/** The workspace's bytes in use (du in the sandbox), for the thread's sandbox view. */
export async function workspaceBytes(sandbox: Sandbox): Promise<number | undefined> {
  const r = await sandbox
    .exec({ argv: ['du', '-sb', WORKSPACE_DIR], mode: 'read-only', timeoutMs: 10_000 })
    .catch(() => undefined);
  const n = Number(r?.stdout.text.split(/\s/)[0]);
  return r?.exitCode === 0 && Number.isFinite(n) ? n : undefined;
}
