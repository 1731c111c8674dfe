// Thread events: the shapes of `codex exec --json` plus ours (approval_request, review), and the
// append that the worker (and tests) use. Stored in the thread's Redis stream, one JSON per entry.
import type { Redis } from 'ioredis';
import { keys } from '../keyspace.ts';

export type Usage = { input_tokens: number; cached_input_tokens?: number; output_tokens: number };

export type ThreadItem =
  | { id: string; type: 'agent_message'; text: string }
  | {
      id: string;
      type: 'command_execution';
      command: string;
      aggregated_output: string;
      exit_code: number | null;
      status: 'in_progress' | 'completed' | 'failed' | 'declined';
      /** Some of the command's output was left out of the thread's events (a byte cap); a marker says where. */
      output_truncated?: boolean;
      /** Why the command failed beyond its exit code, e.g. "killed: out of memory (limit 192 MiB)". */
      message?: string;
    }
  | {
      id: string;
      type: 'file_change';
      changes: { path: string; kind: 'add' | 'delete' | 'update' }[];
      status: 'completed' | 'failed';
    }
  | { id: string; type: 'error'; message: string }
  /** The model's reasoning summary (Codex's `reasoning` item), when the model returns one. */
  | { id: string; type: 'reasoning'; text: string }
  | {
      id: string;
      type: 'approval_request';
      approval_id: string;
      action: unknown;
      status: 'pending' | 'approved' | 'denied' | 'aborted' | 'timed_out';
    }
  | {
      id: string;
      type: 'review';
      review_id: string;
      outcome: string;
      risk_level?: string;
      rationale: string;
    };

/**
 * A running command's item.updated: only the output since its previous update (`output_delta`), never
 * the whole output so far; the completed item carries `aggregated_output`. `output_truncated` says the
 * item's, turn's or thread's output cap was reached and later output is not in the stream.
 */
export type CommandOutputDelta = {
  id: string;
  type: 'command_execution';
  command: string;
  status: 'in_progress';
  output_delta: string;
  output_truncated?: boolean;
};

/** The workspace paths a turn changed (against its start), at most a few hundred named. */
export type FilesChanged = { files: string[]; count: number; truncated?: boolean };

export type ThreadEvent =
  | { type: 'thread.started'; thread_id: string }
  | { type: 'turn.started'; turn_id: string }
  | { type: 'turn.completed'; turn_id: string; usage: Usage; changes?: FilesChanged }
  | { type: 'turn.failed'; turn_id: string; error: { message: string; code?: string } }
  /** An unrecoverable error at top level (Codex's `error` event), stored before `turn.failed`. */
  | { type: 'error'; turn_id?: string; message: string }
  | { type: 'item.started' | 'item.completed'; turn_id?: string; item: ThreadItem }
  | { type: 'item.updated'; turn_id?: string; item: ThreadItem | CommandOutputDelta };

/**
 * How long and how much of a thread's event stream Redis keeps ([redis] events_max_per_thread,
 * events_retention_ms): the stream is a log for clients, not an archive. Trimming on the write that
 * grows the stream keeps the bound without a sweeper; the PEXPIRE makes an idle thread's stream go.
 */
export type EventRetention = { maxPerThread: number; retentionMs: number };
export const DEFAULT_EVENT_RETENTION: EventRetention = { maxPerThread: 10_000, retentionMs: 604_800_000 };
/** Kept for readers that size pages by it. */
export const EVENTS_MAX_LEN = DEFAULT_EVENT_RETENTION.maxPerThread;

// One value per process, set by the service's composition root from its [redis] section, so every
// writer of a process (worker, proxy escalations, orchestrator) trims alike without threading it
// through each call site.
let eventRetention: EventRetention = DEFAULT_EVENT_RETENTION;
export function configureEventRetention(r: EventRetention): void {
  eventRetention = { ...r };
}

/** Appends one event to the thread's stream; returns its stream id (the SSE event id). */
export async function appendEvent(redis: Redis, threadId: string, event: ThreadEvent): Promise<string> {
  const key = keys.events(threadId);
  const { maxPerThread, retentionMs } = eventRetention;
  // MULTI: the append and its trims reach Redis (and the AOF) together, one round trip.
  const replies = await redis
    .multi()
    .xadd(key, 'MAXLEN', '~', String(maxPerThread), '*', 'event', JSON.stringify(event))
    .xtrim(key, 'MINID', '~', `${Date.now() - retentionMs}-0`)
    .pexpire(key, retentionMs)
    .exec();
  const [err, id] = replies?.[0] ?? [new Error('event append discarded'), null];
  if (err) throw err;
  return id as string;
}

/** Stream entries -> [id, event] pairs. */
export function parseEntries(entries: [string, string[]][]): { id: string; event: ThreadEvent }[] {
  const out: { id: string; event: ThreadEvent }[] = [];
  for (const [id, fields] of entries) {
    const at = fields.indexOf('event');
    const raw = at >= 0 ? fields[at + 1] : undefined;
    if (raw !== undefined) out.push({ id, event: JSON.parse(raw) as ThreadEvent });
  }
  return out;
}
