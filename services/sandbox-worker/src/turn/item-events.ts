// Item events of one turn in the `codex exec --json` shapes: item.started / item.updated /
// item.completed. A running command's output goes out as deltas (`output_delta`, at most one
// item.updated per `throttleMs`), and everything a command puts in the thread's stream — deltas and
// the completed item's `aggregated_output` — is held to byte caps per item, per turn and per thread:
// past a cap the output is cut with a marker and `output_truncated: true`, and the command goes on.
import { newId } from '@paddock/platform';
import { appendEvent, type CommandOutputDelta, keys, type ThreadItem } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import { SANDBOX_WORKER_UNSET, SandboxWorkerSection, withDefaults } from '@paddock/config';
import { outputCapsFrom } from '../settings.ts';

export type CommandItem = Extract<ThreadItem, { type: 'command_execution' }>;

export type OutputCaps = {
  /** Live output (the deltas) of one command, and separately its completed `aggregated_output`. */
  itemBytes: number;
  /** All command output of one turn. */
  turnBytes: number;
  /** All command output of one thread's stream, over all its turns (a counter in Redis). */
  threadBytes: number;
};

/** The schema's defaults of [sandbox_worker.output_caps] (callers that pass no caps: tests). */
export const DEFAULT_OUTPUT_CAPS: OutputCaps = outputCapsFrom(
  withDefaults(SandboxWorkerSection, undefined, SANDBOX_WORKER_UNSET).output_caps,
);

export type ItemEvents = {
  started(item: ThreadItem): Promise<void>;
  updated(item: ThreadItem): Promise<void>;
  completed(item: ThreadItem): Promise<void>;
  /**
   * A completed command item: its `aggregated_output` is cut to what the caps leave (head and tail
   * around a marker); `truncated` adds that earlier output was already left out.
   */
  completedCommand(item: CommandItem, opts?: { truncated?: boolean }): Promise<void>;
  /** A throttled live view of a command's output as deltas; `flush` before completing the item. */
  /** Command output bytes this turn's budget has granted so far (what its events carry). */
  readonly turnOutputBytes: number;
  outputStream(item: CommandItem): {
    push: (text: string) => void;
    flush: () => Promise<void>;
    /** Whether some of the live output was left out. */
    readonly truncated: boolean;
  };
  newItemId(): string;
};

/** How long the thread's output counter outlives its last write (the stream is a log, not an archive). */
const THREAD_COUNTER_TTL_S = 30 * 86_400;

export const truncatedMarker = (capName: string) =>
  `\n[... output truncated: the ${capName} output cap was reached ...]\n`;

/** The longest prefix of `text` of at most `maxBytes` UTF-8 bytes, never splitting a character. */
export function utf8Prefix(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

function utf8Suffix(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let start = buf.length - Math.max(0, maxBytes);
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/** The turn's and the thread's byte budgets: `grant` gives at most what both have left. */
class OutputBudget {
  private turnLeftBytes: number;
  /** Bytes granted to this turn so far. */
  grantedTotalBytes = 0;
  private readonly redis: Redis;
  private readonly threadId: string;
  private readonly threadCapBytes: number;

  constructor(redis: Redis, threadId: string, caps: OutputCaps) {
    this.redis = redis;
    this.threadId = threadId;
    this.turnLeftBytes = caps.turnBytes;
    this.threadCapBytes = caps.threadBytes;
  }

  /** Reserves up to `bytes`; answers what was granted and which cap (if any) held it back. */
  async grant(bytes: number): Promise<{ grantedBytes: number; cap?: 'turn' | 'thread' }> {
    if (bytes <= 0) return { grantedBytes: 0 };
    const turnBytes = Math.min(bytes, this.turnLeftBytes);
    if (turnBytes <= 0) return { grantedBytes: 0, cap: 'turn' };
    const key = keys.threadOutputBytes(this.threadId);
    const total = await this.redis.incrby(key, turnBytes);
    await this.redis.expire(key, THREAD_COUNTER_TTL_S);
    const overBytes = Math.max(0, total - this.threadCapBytes);
    const grantedBytes = Math.max(0, turnBytes - overBytes);
    if (grantedBytes < turnBytes) await this.redis.decrby(key, turnBytes - grantedBytes);
    this.turnLeftBytes -= grantedBytes;
    this.grantedTotalBytes += grantedBytes;
    const cap = grantedBytes < turnBytes ? 'thread' : turnBytes < bytes ? 'turn' : undefined;
    return cap ? { grantedBytes, cap } : { grantedBytes };
  }
}

export function itemEvents(
  redis: Redis,
  threadId: string,
  turnId: string,
  throttleMs: number,
  caps: OutputCaps = DEFAULT_OUTPUT_CAPS,
): ItemEvents {
  const emit = (type: 'item.started' | 'item.updated' | 'item.completed', item: ThreadItem | CommandOutputDelta) =>
    appendEvent(
      redis,
      threadId,
      type === 'item.updated'
        ? { type, turn_id: turnId, item }
        : { type, turn_id: turnId, item: item as ThreadItem },
    ).then(() => undefined);
  const budget = new OutputBudget(redis, threadId, caps);
  return {
    started: (item) => emit('item.started', item),
    updated: (item) => emit('item.updated', item),
    completed: (item) => emit('item.completed', item),
    newItemId: () => newId('item'),
    get turnOutputBytes() {
      return budget.grantedTotalBytes;
    },
    async completedCommand(item, opts = {}) {
      const text = item.aggregated_output;
      const wantedBytes = Math.min(Buffer.byteLength(text, 'utf8'), caps.itemBytes);
      const { grantedBytes, cap } = await budget.grant(wantedBytes);
      const fullBytes = Buffer.byteLength(text, 'utf8');
      if (grantedBytes >= fullBytes) {
        await emit('item.completed', opts.truncated ? { ...item, output_truncated: true } : item);
        return;
      }
      const marker = truncatedMarker(cap ?? 'item');
      const keepBytes = Math.max(0, grantedBytes - Buffer.byteLength(marker));
      const headBytes = Math.ceil(keepBytes / 2);
      const cut = utf8Prefix(text, headBytes) + marker + utf8Suffix(text, keepBytes - headBytes);
      await emit('item.completed', { ...item, aggregated_output: cut, output_truncated: true });
    },
    outputStream(item) {
      let pending = '';
      let itemLeftBytes = caps.itemBytes;
      let truncated = false;
      let lastSentAt = 0;
      let timer: NodeJS.Timeout | undefined;
      let sending: Promise<void> = Promise.resolve();
      const delta = (text: string, cut: boolean): CommandOutputDelta => ({
        id: item.id,
        type: 'command_execution',
        command: item.command,
        status: 'in_progress',
        output_delta: text,
        ...(cut ? { output_truncated: true } : {}),
      });
      const sendPending = async () => {
        if (!pending || truncated) {
          pending = '';
          return;
        }
        const text = pending;
        pending = '';
        const wantedBytes = Math.min(Buffer.byteLength(text, 'utf8'), itemLeftBytes);
        const { grantedBytes, cap } = await budget.grant(wantedBytes);
        const kept = utf8Prefix(text, grantedBytes);
        itemLeftBytes -= Buffer.byteLength(kept, 'utf8');
        const cutHere = Buffer.byteLength(kept, 'utf8') < Buffer.byteLength(text, 'utf8');
        if (cutHere) truncated = true;
        // The marker is the stream's own note, not the command's output: it is not charged to a cap.
        const out = cutHere ? kept + truncatedMarker(cap ?? 'item') : kept;
        if (out) await emit('item.updated', delta(out, cutHere));
      };
      const send = () => {
        timer = undefined;
        lastSentAt = Date.now();
        sending = sending.then(sendPending).catch(() => undefined);
        return sending;
      };
      return {
        push(chunk) {
          if (truncated) return; // past a cap: nothing more is kept for the live view
          pending += chunk;
          if (timer) return;
          const wait = Math.max(0, lastSentAt + throttleMs - Date.now());
          timer = setTimeout(() => void send(), wait);
        },
        async flush() {
          if (timer) clearTimeout(timer);
          await send();
        },
        get truncated() {
          return truncated;
        },
      };
    },
  };
}
