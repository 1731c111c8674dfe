// The agent's `apply_patch` tool on the worker: the patch is parsed here (apply-patch.ts), its paths
// resolved against /workspace; paths inside the writable roots are written at once, any path outside
// them makes the whole patch a `file_write` action for the thread's reviewer (denied: nothing is
// written, the model is told). Every hunk is checked before anything is written; the writes run in
// the sandbox (the exec mode enforces the roots again), and the applied patch is one file_change item.
import { posix } from 'node:path';
import type { EffectiveConfig } from '@paddock/config';
import type { ExecRequest, ExecResult, TranscriptItem } from '@paddock/contracts';
import type { ActionGate } from '../turn/action-gate.ts';
import type { ItemEvents } from '../turn/item-events.ts';
import { applyHunks, parsePatch, PatchError, type PatchOp, pathsOf } from './apply-patch.ts';
import type { TurnChanges } from './turn-changes.ts';
import type { FileChange } from './workspace-git.ts';

const WORKSPACE = '/workspace';
/** Largest file a patch reads back to update (the agent's own read limit). */
const READ_MAX_BYTES = 8 * 1024 * 1024;

export type PatchToolDeps = {
  exec: (req: ExecRequest) => Promise<ExecResult>;
  gate: ActionGate;
  events: ItemEvents;
  changes: TurnChanges;
  config: EffectiveConfig;
  transcript: TranscriptItem[];
};

const under = (path: string, root: string) => root === '/' || path === root || path.startsWith(`${root.replace(/\/$/, '')}/`);

/** The roots a patch may write without review, from the turn's sandbox mode (as commands). */
export function writableRoots(config: EffectiveConfig): string[] {
  switch (config.sandbox_mode) {
    case 'read-only':
      return [];
    case 'danger-full-access':
      return ['/'];
    case 'workspace-write':
      return [WORKSPACE, '/tmp', ...(config.sandbox_workspace_write.writable_roots ?? [])];
  }
}

/** How an absolute path is named in a file_change item: relative to the workspace when inside it. */
const shown = (abs: string) => (abs.startsWith(`${WORKSPACE}/`) ? abs.slice(WORKSPACE.length + 1) : abs);

/** Runs one apply_patch call; answers what the model is told. */
export async function runApplyPatch(d: PatchToolDeps, input: string): Promise<string> {
  let ops: PatchOp[];
  try {
    ops = parsePatch(input);
  } catch (err) {
    if (err instanceof PatchError) return `apply_patch failed: ${err.message}; nothing was changed`;
    throw err;
  }
  const abs = (p: string) => posix.resolve(WORKSPACE, p);
  const roots = writableRoots(d.config);
  const outside = pathsOf(ops).map(abs).filter((p) => !roots.some((r) => under(p, r)));
  d.transcript.push({ role: 'assistant', content: `apply_patch ${pathsOf(ops).join(', ')}` });
  let mode: ExecRequest['mode'] = 'workspace-write';
  if (outside.length > 0) {
    const decision = await d.gate.decideFileWrite(outside, `apply_patch writes outside the writable roots: ${outside.join(', ')}`);
    if (!decision.run) return `${decision.message}\napply_patch was not applied; nothing was changed`;
    mode = 'escalated';
  }
  const run = async (req: Omit<ExecRequest, 'mode'>, as: ExecRequest['mode'] = mode) => d.exec({ ...req, mode: as, network: false, timeoutMs: 30_000 });
  // Every new content first: a hunk that does not apply fails the patch before anything is written.
  const writes: { path: string; content?: string }[] = [];
  const changes: FileChange[] = [];
  try {
    for (const op of ops) {
      const path = abs(op.path);
      if (op.kind === 'add') {
        writes.push({ path, content: op.content });
        changes.push({ path: shown(path), kind: 'add' });
      } else if (op.kind === 'delete') {
        writes.push({ path });
        changes.push({ path: shown(path), kind: 'delete' });
      } else {
        const r = await run({ argv: ['cat', '--', path], maxOutputBytes: READ_MAX_BYTES }, 'read-only');
        if (r.exitCode !== 0 || r.stdout.omittedBytes > 0)
          throw new PatchError(`${op.path}: cannot be read (${r.stdout.omittedBytes > 0 ? 'too large' : r.stderr.text.trim() || `exit ${r.exitCode}`})`);
        const content = applyHunks(r.stdout.text, op.hunks, op.path);
        if (op.moveTo) {
          const target = abs(op.moveTo);
          writes.push({ path: target, content }, { path });
          changes.push({ path: shown(target), kind: 'add' }, { path: shown(path), kind: 'delete' });
        } else {
          writes.push({ path, content });
          changes.push({ path: shown(path), kind: 'update' });
        }
      }
    }
  } catch (err) {
    if (err instanceof PatchError) return `apply_patch failed: ${err.message}; nothing was changed`;
    throw err;
  }
  const id = d.events.newItemId();
  for (const w of writes) {
    const r =
      w.content === undefined
        ? await run({ argv: ['rm', '--', w.path] })
        : await run({
            argv: ['bash', '-c', 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"', 'apply_patch', w.path],
            stdin: w.content,
          });
    if (r.exitCode !== 0) {
      await d.events.completed({ id, type: 'file_change', changes, status: 'failed' });
      await d.changes.absorb();
      return `apply_patch failed writing ${shown(w.path)}: ${r.stderr.text.trim() || `exit ${r.exitCode}`}; earlier files of the patch were written`;
    }
  }
  await d.events.completed({ id, type: 'file_change', changes, status: 'completed' });
  await d.changes.absorb();
  const letter = { add: 'A', update: 'M', delete: 'D' } as const;
  return `Success. Updated the following files:\n${changes.map((c) => `${letter[c.kind]} ${c.path}`).join('\n')}`;
}
