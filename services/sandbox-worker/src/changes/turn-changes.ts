// One turn's change tracking: the base and the turn's start recorded at the start, a `file_change`
// item after each action that changed files, and at the end the turn's changed files (for
// turn.completed and the usage record) and the thread's diffs stored in Redis (capped), so
// GET /v1/threads/{id}/diff answers without the worker. A workspace without git is not tracked.
// Each step is one exec in the sandbox (start, after each action, end): a bash+git spawn costs
// milliseconds, and a stored diff whose two trees have not moved is kept, not recomputed.
import { type FilesChanged, keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { ItemEvents } from '../turn/item-events.ts';
import type { EndDiff, FileChange, WorkspaceGit } from './workspace-git.ts';

/** Turns whose `?since_turn=` diff is kept (the newest). */
export const DIFF_TURNS_KEPT = 5;
/** Paths named on turn.completed at most (the count is always exact). */
const SUMMARY_MAX_FILES = 200;
/**
 * Files stamped up to this long before a snapshot began still count as changes after it. On the
 * sandbox's own clock (the kernel's, which stamps its files from a coarse clock at most a tick
 * behind) a small margin is enough; only when the sandbox cannot tell its time is the worker's
 * clock used, with a second for an engine on another host.
 */
const SANDBOX_CLOCK_MARGIN_MS = 50;
const WORKER_CLOCK_MARGIN_MS = 1000;

/** The instant after which a status change means the work tree moved past a snapshot. */
function changesAfter(sandboxAtMs: number | undefined, workerAtMs: number): number {
  return sandboxAtMs !== undefined ? sandboxAtMs - SANDBOX_CLOCK_MARGIN_MS : workerAtMs - WORKER_CLOCK_MARGIN_MS;
}
/** How long a thread's stored diffs outlive their last write. */
const DIFFS_TTL_S = 30 * 86_400;

/** `to`: the tree the diff was taken at (a later turn that ends on the same tree keeps the diff). */
export type StoredDiff = { diff: string; truncated: boolean; from: string; to?: string; at_turn: string };

export class TurnChanges {
  private readonly git: WorkspaceGit;
  private readonly o: { redis: Redis; events: ItemEvents; threadId: string; turnId: string; diffMaxBytes: number };
  private base = '';
  private startTree = '';
  private lastTree = '';
  private enabled = false;
  /** Changes stamped after this instant (sandbox clock, margin taken) moved the work tree past lastTree. */
  private changedAfterMs = 0;
  /** Whether startTree is on a ref (a turn's start commit), so a later turn may start from it unpruned. */
  private startReferenced = false;

  constructor(
    git: WorkspaceGit,
    o: { redis: Redis; events: ItemEvents; threadId: string; turnId: string; diffMaxBytes: number },
  ) {
    this.git = git;
    this.o = o;
  }

  /** Base commit and turn start; answers why tracking is off, or undefined. */
  async start(): Promise<string | undefined> {
    try {
      const key = keys.threadDiffs(this.o.threadId);
      // Recorded by the worker (the checkout's commit, or the first snapshot): the sandbox may move
      // refs/paddock/base, but not what the diff is taken against.
      const [known, endTree, endAfter, endReferenced] = await this.o.redis.hmget(key, 'base_commit', 'end_tree', 'end_changed_after_ms', 'end_referenced');
      // The previous turn's end still holds (nothing in the work tree changed since its snapshot, and
      // a ref keeps that tree from git's pruning): this turn starts there, with no exec at all.
      const endAfterMs = Number(endAfter);
      if (known && endTree && endReferenced === '1' && endAfter && Number.isFinite(endAfterMs) && !(await this.git.changedSince(endAfterMs))) {
        this.base = known;
        this.startTree = endTree;
        this.changedAfterMs = endAfterMs;
        this.startReferenced = true;
      } else {
        const at = Date.now();
        const begun = await this.git.beginTurn(this.o.turnId, known ?? undefined);
        ({ base: this.base, startTree: this.startTree } = begun);
        this.changedAfterMs = changesAfter(begun.atMs, at);
        this.startReferenced = true; // beginTurn put it on refs/paddock/turns/<id>
      }
      this.lastTree = this.startTree;
      this.enabled = true;
      await this.o.redis.hset(key, 'base_commit', this.base, `start:${this.o.turnId}`, this.startTree);
      return undefined;
    } catch (err) {
      const message = `changes are not tracked in this turn: ${(err as Error).message}`;
      await this.o.events.completed({ id: this.o.events.newItemId(), type: 'error', message });
      return message;
    }
  }

  /** After an action: what it changed, as one `file_change` item (none when nothing changed). */
  async afterAction(status: 'completed' | 'failed' = 'completed'): Promise<FileChange[]> {
    if (!this.enabled) return [];
    // A command that changed nothing (most of them) costs one `find`, not a snapshot.
    if (!(await this.moved())) return [];
    const at = Date.now();
    const { tree, changes, atMs } = await this.git.snapshotSince(this.lastTree);
    this.lastTree = tree;
    this.changedAfterMs = changesAfter(atMs, at);
    if (changes.length > 0)
      await this.o.events.completed({ id: this.o.events.newItemId(), type: 'file_change', changes, status });
    return changes;
  }

  /** The snapshot moves on without an item: the caller (apply_patch) reported these changes itself. */
  async absorb(): Promise<void> {
    if (!this.enabled) return;
    const at = Date.now();
    const { tree, atMs } = await this.git.snapshot();
    this.lastTree = tree;
    this.changedAfterMs = changesAfter(atMs, at);
  }

  /**
   * Whether the work tree may have changed since the last snapshot began (with the clock's margin);
   * false means lastTree is still the workspace's tree.
   */
  private async moved(): Promise<boolean> {
    return this.git.changedSince(this.changedAfterMs);
  }

  /** The turn's end: its changed files, and the thread's diffs stored for the diff route. */
  async finish(): Promise<FilesChanged | undefined> {
    if (!this.enabled) return undefined;
    const key = keys.threadDiffs(this.o.threadId);
    const stored = await this.o.redis.hgetall(key);
    const previous = (JSON.parse(stored['turns'] ?? '[]') as string[]).filter((t) => t !== this.o.turnId);
    const turns = [...previous, this.o.turnId].slice(-DIFF_TURNS_KEPT);
    const dropped = previous.filter((t) => !turns.includes(t));
    // Each stored diff runs from its tree-ish to the tree at the end: a stored one taken between the
    // same two trees (whole, within today's cap) is kept rather than recomputed.
    const wanted: { field: string; from: string; kept?: StoredDiff }[] = [{ field: 'base', from: this.base }];
    for (const t of turns) {
      const from = t === this.o.turnId ? this.startTree : stored[`start:${t}`];
      if (from) wanted.push({ field: `turn:${t}`, from });
    }
    for (const w of wanted) {
      const before = storedDiff(stored[w.field]);
      if (before && before.from === w.from && !before.truncated && Buffer.byteLength(before.diff) <= this.o.diffMaxBytes)
        w.kept = before;
    }
    // Nothing moved since the last snapshot and every stored diff still holds: no exec at all.
    const settled =
      this.startTree === this.lastTree &&
      wanted.every((w) => w.from === this.lastTree || w.kept?.to === this.lastTree) &&
      !(await this.moved());
    const endStartedAt = Date.now();
    const end = settled
      ? {
          tree: this.lastTree,
          sinceLast: [],
          sinceStart: [],
          diffs: wanted.map((w): EndDiff => (w.from === this.lastTree ? { kind: 'same' } : { kind: 'kept' })),
          atMs: undefined, // no snapshot taken: the last one's instant stands
        }
      : await this.git.endTurn({
          last: this.lastTree,
          start: this.startTree,
          diffs: wanted.map((w) => ({ from: w.from, ...(w.kept?.to ? { keptTo: w.kept.to } : {}) })),
          maxBytes: this.o.diffMaxBytes,
        });
    this.lastTree = end.tree;
    // What changed after the last action (a files upload during the turn, say): one item, as after an action.
    if (end.sinceLast.length > 0)
      await this.o.events.completed({ id: this.o.events.newItemId(), type: 'file_change', changes: end.sinceLast, status: 'completed' });
    const m = this.o.redis.multi();
    wanted.forEach((w, i) => {
      const d = end.diffs[i]!;
      const body =
        d.kind === 'same' ? { diff: '', truncated: false } : d.kind === 'kept' && w.kept ? w.kept : d.kind === 'diff' ? d : undefined;
      if (!body) return; // 'kept' without a stored diff cannot be answered by a sandbox we asked nothing of
      const value: StoredDiff = { diff: body.diff, truncated: body.truncated, from: w.from, to: end.tree, at_turn: this.o.turnId };
      m.hset(key, w.field, JSON.stringify(value));
    });
    for (const t of dropped) m.hdel(key, `turn:${t}`, `start:${t}`);
    // Where this turn ended, for the next turn's start: the tree, when its snapshot began, and whether
    // a ref holds it (only the start tree is on one; a new end tree makes the next turn record its own).
    const endAfterMs = settled ? this.changedAfterMs : changesAfter(end.atMs, endStartedAt);
    m.hset(key, 'end_tree', end.tree, 'end_changed_after_ms', String(endAfterMs), 'end_referenced', end.tree === this.startTree && this.startReferenced ? '1' : '0');
    m.hdel(key, 'end_at_ms'); // the worker-clock field of earlier versions
    m.hset(key, 'turns', JSON.stringify(turns)).expire(key, DIFFS_TTL_S);
    await m.exec();
    const files = end.sinceStart.map((c) => c.path);
    return {
      files: files.slice(0, SUMMARY_MAX_FILES),
      count: files.length,
      ...(files.length > SUMMARY_MAX_FILES ? { truncated: true } : {}),
    };
  }
}

/** A stored diff as this worker wrote it, or undefined (absent, or not one of ours). */
function storedDiff(raw: string | undefined): StoredDiff | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as Partial<StoredDiff>;
    return typeof v.diff === 'string' && typeof v.from === 'string' && typeof v.to === 'string' && typeof v.truncated === 'boolean'
      ? (v as StoredDiff)
      : undefined;
  } catch {
    return undefined;
  }
}
