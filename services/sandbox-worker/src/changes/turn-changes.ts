// One turn's change tracking: the base and the turn's start recorded at the start, a `file_change`
// item after each action that changed files, and at the end the turn's changed files (for
// turn.completed and the usage record) and the thread's diffs stored in Redis (capped), so
// GET /v1/threads/{id}/diff answers without the worker. A workspace without git is not tracked.
import { type FilesChanged, keys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { ItemEvents } from '../turn/item-events.ts';
import type { FileChange, WorkspaceGit } from './workspace-git.ts';

/** Turns whose `?since_turn=` diff is kept (the newest). */
export const DIFF_TURNS_KEPT = 5;
/** Paths named on turn.completed at most (the count is always exact). */
const SUMMARY_MAX_FILES = 200;
/** How long a thread's stored diffs outlive their last write. */
const DIFFS_TTL_S = 30 * 86_400;

export type StoredDiff = { diff: string; truncated: boolean; from: string; at_turn: string };

export class TurnChanges {
  private readonly git: WorkspaceGit;
  private readonly o: { redis: Redis; events: ItemEvents; threadId: string; turnId: string; diffMaxBytes: number };
  private base = '';
  private startTree = '';
  private lastTree = '';
  private enabled = false;

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
      const known = (await this.o.redis.hget(key, 'base_commit')) ?? undefined;
      this.base = await this.git.ensureBase(known);
      this.startTree = await this.git.markTurnStart(this.o.turnId, this.base);
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
    const tree = await this.git.snapshot();
    const changes = await this.git.changesBetween(this.lastTree, tree);
    this.lastTree = tree;
    if (changes.length > 0)
      await this.o.events.completed({ id: this.o.events.newItemId(), type: 'file_change', changes, status });
    return changes;
  }

  /** The snapshot moves on without an item: the caller (apply_patch) reported these changes itself. */
  async absorb(): Promise<void> {
    if (!this.enabled) return;
    this.lastTree = await this.git.snapshot();
  }

  /** The turn's end: its changed files, and the thread's diffs stored for the diff route. */
  async finish(): Promise<FilesChanged | undefined> {
    if (!this.enabled) return undefined;
    await this.afterAction();
    const key = keys.threadDiffs(this.o.threadId);
    const changed = await this.git.changesBetween(this.startTree, this.lastTree);
    const stored = await this.o.redis.hgetall(key);
    const previous = (JSON.parse(stored['turns'] ?? '[]') as string[]).filter((t) => t !== this.o.turnId);
    const turns = [...previous, this.o.turnId].slice(-DIFF_TURNS_KEPT);
    const dropped = previous.filter((t) => !turns.includes(t));
    const m = this.o.redis.multi();
    const put = async (field: string, from: string) => {
      const d = await this.git.diff(from, this.lastTree, this.o.diffMaxBytes);
      const value: StoredDiff = { ...d, from, at_turn: this.o.turnId };
      m.hset(key, field, JSON.stringify(value));
    };
    await put('base', this.base);
    for (const t of turns) {
      const from = t === this.o.turnId ? this.startTree : stored[`start:${t}`];
      if (from) await put(`turn:${t}`, from);
    }
    for (const t of dropped) m.hdel(key, `turn:${t}`, `start:${t}`);
    m.hset(key, 'turns', JSON.stringify(turns)).expire(key, DIFFS_TTL_S);
    await m.exec();
    const files = changed.map((c) => c.path);
    return {
      files: files.slice(0, SUMMARY_MAX_FILES),
      count: files.length,
      ...(files.length > SUMMARY_MAX_FILES ? { truncated: true } : {}),
    };
  }
}
