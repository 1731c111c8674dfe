// The `codex` view of a thread's events: only Codex's `ThreadEvent` / `ThreadItem` types and their
// required fields (codex-rs/exec/src/exec_events.rs), so a consumer built on Codex's closed serde tags
// parses every line; Paddock's own items are left out. Usage always carries the three token fields.
import type { ThreadEvent } from '@paddock/contracts';

/** Item types Codex's `ThreadItemDetails` knows (0.169.0); any other item is left out of the view. */
export const CODEX_ITEM_TYPES = new Set([
  'agent_message',
  'reasoning',
  'command_execution',
  'file_change',
  'mcp_tool_call',
  'collab_tool_call',
  'web_search',
  'todo_list',
  'error',
]);

/** Per-stream state: a running command's output so far (Codex's `item.updated` carries all of it). */
export type CodexViewState = { outputByItem: Map<string, string>; lastErrorMessage?: string };

export const newCodexViewState = (): CodexViewState => ({ outputByItem: new Map() });

type Json = Record<string, unknown>;

/** `usage` with all three token fields Codex requires (i64, not Option); extra counters pass through. */
export function fullUsage(usage: unknown): Json {
  const u = (usage ?? {}) as Json;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const out: Json = {
    input_tokens: n(u.input_tokens),
    cached_input_tokens: n(u.cached_input_tokens),
    output_tokens: n(u.output_tokens),
  };
  for (const extra of ['cache_write_input_tokens', 'reasoning_output_tokens']) {
    if (typeof u[extra] === 'number') out[extra] = u[extra];
  }
  return out;
}

/** The default view: the stored event, with usage completed so every `turn.completed` has three fields. */
export function paddockView(event: ThreadEvent): ThreadEvent {
  if (event.type === 'turn.completed') return { ...event, usage: fullUsage(event.usage) as never };
  return event;
}

/** One stored event -> the Codex lines it stands for (none, one, or `error` + `turn.failed`). */
export function codexView(event: ThreadEvent, state: CodexViewState): Json[] {
  const e = event as Json & { type: string };
  switch (e.type) {
    case 'thread.started':
      return [{ type: 'thread.started', thread_id: String(e.thread_id) }];
    case 'turn.started':
      state.outputByItem.clear();
      state.lastErrorMessage = undefined;
      return [{ type: 'turn.started' }];
    case 'turn.completed':
      return [{ type: 'turn.completed', usage: fullUsage(e.usage) }];
    case 'error': {
      const message = String(e.message ?? '');
      state.lastErrorMessage = message;
      return [{ type: 'error', message }];
    }
    case 'turn.failed': {
      // Codex prints the unrecoverable error at top level before `turn.failed` (recorded in 0.169.0).
      const message = String((e.error as Json | undefined)?.message ?? 'turn failed');
      const lines: Json[] = [];
      if (state.lastErrorMessage !== message) lines.push({ type: 'error', message });
      state.lastErrorMessage = undefined;
      lines.push({ type: 'turn.failed', error: { message } });
      return lines;
    }
    case 'item.started':
    case 'item.updated':
    case 'item.completed': {
      const item = codexItem(e.item as Json, e.type, state);
      return item ? [{ type: e.type, item }] : [];
    }
    default:
      return [];
  }
}

function codexItem(item: Json, eventType: string, state: CodexViewState): Json | undefined {
  const type = String(item?.type);
  if (!CODEX_ITEM_TYPES.has(type)) return undefined; // review, approval_request: Paddock's own
  const id = String(item.id);
  switch (type) {
    case 'agent_message':
    case 'reasoning':
      return { id, type, text: String(item.text ?? '') };
    case 'error':
      return { id, type, message: String(item.message ?? '') };
    case 'file_change':
      return { id, type, changes: item.changes ?? [], status: item.status };
    case 'command_execution': {
      // Paddock's deltas carry only the new output; Codex's item.updated carries all of it so far.
      let aggregated: string;
      if (typeof item.output_delta === 'string') {
        aggregated = (state.outputByItem.get(id) ?? '') + item.output_delta;
        state.outputByItem.set(id, aggregated);
      } else {
        aggregated = typeof item.aggregated_output === 'string' ? item.aggregated_output : (state.outputByItem.get(id) ?? '');
      }
      if (eventType === 'item.completed') state.outputByItem.delete(id);
      const exitCode = typeof item.exit_code === 'number' ? item.exit_code : null;
      return { id, type, command: String(item.command ?? ''), aggregated_output: aggregated, exit_code: exitCode, status: item.status };
    }
    default:
      return { ...item, id, type }; // Codex's own shapes (not produced by Paddock today) pass as stored
  }
}
