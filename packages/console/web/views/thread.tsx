// A thread's live view: its SSE stream folded into turns and items — agent messages, commands with
// their output as it streams, file changes with the rendered diff, reviews, approval requests — and
// each turn's end with its usage. A running turn can be interrupted from here.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, followEvents, ok, sdk } from '../api.ts';
import type { Item } from '../data.ts';
import { DiffView } from './diff.tsx';

type TurnState = {
  id: string;
  status: 'running' | 'completed' | 'failed' | 'interrupted';
  items: Item[];
  usage?: Record<string, number>;
  error?: { message?: string; code?: string };
  changes?: unknown;
};

type Folded = { turns: TurnState[]; byItem: Map<string, Item>; output: Map<string, string> };

function fold(state: Folded, data: Record<string, unknown>): Folded {
  const type = String(data['type'] ?? '');
  const turnId = typeof data['turn_id'] === 'string' ? data['turn_id'] : undefined;
  const turnOf = (id: string | undefined): TurnState | undefined => {
    if (!id) return state.turns[state.turns.length - 1];
    let t = state.turns.find((x) => x.id === id);
    if (!t) {
      t = { id, status: 'running', items: [] };
      state.turns.push(t);
    }
    return t;
  };
  if (type === 'turn.started') turnOf(turnId);
  else if (type === 'turn.completed') {
    const t = turnOf(turnId);
    if (t) {
      t.status = 'completed';
      t.usage = data['usage'] as Record<string, number> | undefined;
      t.changes = data['changes'] ?? data['files_changed'];
    }
  } else if (type === 'turn.failed') {
    const t = turnOf(turnId);
    if (t) {
      const error = (data['error'] ?? {}) as { message?: string; code?: string };
      t.status = error.code === 'interrupted' ? 'interrupted' : 'failed';
      t.error = error;
    }
  } else if (type.startsWith('item.')) {
    const item = data['item'] as Item | undefined;
    if (!item?.id) return state;
    const t = turnOf(turnId);
    const known = state.byItem.get(item.id);
    const delta = item['output_delta'];
    if (typeof delta === 'string') state.output.set(item.id, (state.output.get(item.id) ?? '') + delta);
    const merged = { ...(known ?? {}), ...item } as Item;
    if (typeof item['aggregated_output'] === 'string') state.output.set(item.id, item['aggregated_output']);
    state.byItem.set(item.id, merged);
    if (t && !known) t.items.push(merged);
    else if (t) t.items = t.items.map((i) => (i.id === item.id ? merged : i));
  }
  return { ...state };
}

export function ThreadView(props: { id: string }) {
  const [state, setState] = useState<Folded>({ turns: [], byItem: new Map(), output: new Map() });
  const [streamError, setStreamError] = useState<string | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);

  useEffect(() => {
    const abort = new AbortController();
    setState({ turns: [], byItem: new Map(), output: new Map() });
    followEvents(props.id, (e) => setState((s) => fold(s, e.event as unknown as Record<string, unknown>)), abort.signal).catch((err) => {
      if (!abort.signal.aborted) setStreamError(err instanceof Error ? err.message : String(err));
    });
    return () => abort.abort();
  }, [props.id]);

  const running = useMemo(() => state.turns.find((t) => t.status === 'running'), [state]);

  const interrupt = async () => {
    if (!running) return;
    try {
      await ok(
        sdk().api.POST('/v1/threads/{id}/turns/{turn_id}/interrupt', {
          params: { path: { id: props.id, turn_id: running.id } },
        }),
      );
      setMessage('Interrupt sent.');
    } catch (e) {
      setMessage(e instanceof ApiError ? `${e.message} (${e.code})` : String(e));
    }
  };

  return (
    <section aria-labelledby="thread-title">
      <div class="row">
        <h1 id="thread-title">Thread {props.id}</h1>
        {running && (
          <button type="button" class="danger" onClick={interrupt}>
            Interrupt turn
          </button>
        )}
      </div>
      {message && (
        <p class="notice" role="status">
          {message}
        </p>
      )}
      {streamError && <p class="error">{streamError}</p>}
      {state.turns.length === 0 && <p class="empty">No turns yet; this view follows the thread live.</p>}
      {state.turns.map((t) => (
        <article key={t.id} class="card turn" data-turn-id={t.id} data-status={t.status} aria-live="polite">
          <header class="row">
            <h2>Turn {t.id}</h2>
            <span class={`badge ${t.status}`}>{t.status}</span>
          </header>
          {t.items.map((item) => (
            <ItemView key={item.id} item={item} output={state.output.get(item.id)} threadId={props.id} turnId={t.id} />
          ))}
          {t.status === 'running' && (
            <p class="muted spinner" aria-busy="true">
              working…
            </p>
          )}
          {t.error && (
            <p class="error">
              {t.error.message} {t.error.code && <code>({t.error.code})</code>}
            </p>
          )}
          {t.usage && (
            <p class="usage muted">
              tokens in {t.usage['input_tokens'] ?? 0} (cached {t.usage['cached_input_tokens'] ?? 0}) · out{' '}
              {t.usage['output_tokens'] ?? 0}
            </p>
          )}
        </article>
      ))}
    </section>
  );
}

function ItemView(props: { item: Item; output?: string; threadId: string; turnId: string }) {
  const { item } = props;
  switch (item.type) {
    case 'agent_message':
      return <p class="item message">{String(item['text'] ?? '')}</p>;
    case 'reasoning':
      return <p class="item muted">{String(item['text'] ?? '')}</p>;
    case 'command_execution':
      return (
        <div class="item command" data-item-id={item.id}>
          <div class="row">
            <code>$ {String(item['command'] ?? '')}</code>
            <span class={`badge ${String(item['status'] ?? '')}`}>
              {String(item['status'] ?? '')}
              {item['exit_code'] !== undefined && item['exit_code'] !== null ? ` · exit ${String(item['exit_code'])}` : ''}
            </span>
          </div>
          {props.output && <pre class="output">{props.output}</pre>}
        </div>
      );
    case 'file_change': {
      const changes = (item['changes'] as { path: string; kind: string }[] | undefined) ?? [];
      return (
        <div class="item file-change">
          <p>Files changed:</p>
          <ul>
            {changes.map((c) => (
              <li key={c.path}>
                <span class={`badge ${c.kind}`}>{c.kind}</span> <code>{c.path}</code>
              </li>
            ))}
          </ul>
          <DiffView threadId={props.threadId} />
        </div>
      );
    }
    case 'review':
      return (
        <div class="item review" data-outcome={String(item['outcome'] ?? '')}>
          <p>
            Review: <strong>{String(item['outcome'] ?? '')}</strong>
            {item['risk_level'] !== undefined && <> · risk {String(item['risk_level'])}</>}
            {item['user_authorization'] !== undefined && <> · user authorization {String(item['user_authorization'])}</>}
          </p>
          <p class="muted">{String(item['rationale'] ?? '')}</p>
        </div>
      );
    case 'approval_request':
      return (
        <div class="item approval-request">
          <p>
            Approval request <code>{String(item['approval_id'] ?? '')}</code>:{' '}
            <span class={`badge ${String(item['status'] ?? '')}`}>{String(item['status'] ?? '')}</span>
          </p>
        </div>
      );
    case 'error':
      return <p class="item error">{String(item['message'] ?? '')}</p>;
    default:
      return <p class="item muted">{item.type}</p>;
  }
}

