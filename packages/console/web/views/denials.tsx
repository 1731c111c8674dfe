// Recent denials across the workspace's threads (each thread keeps its last ten), with "approve one
// retry": the same action, once, still reviewed when it runs again.
import { useState } from 'preact/hooks';
import { ApiError, ok, sdk } from '../api.ts';
import { type Denial, describeAction, recentDenials } from '../data.ts';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';

export function Denials() {
  const { value, error, refresh } = usePoll(recentDenials, 3000);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const approve = async (d: Denial) => {
    try {
      await ok(
        sdk().api.POST('/v1/threads/{id}/denials/{denial_id}/approve', {
          params: { path: { id: d.thread_id, denial_id: d.id } },
        }),
      );
      setMessage(`One retry approved: ${describeAction(d.action)}`);
    } catch (e) {
      setMessage(e instanceof ApiError ? `${e.message} (${e.code})` : String(e));
    }
    await refresh();
  };
  return (
    <section aria-labelledby="denials-title">
      <h1 id="denials-title">Denials</h1>
      {message && (
        <p class="notice" role="status">
          {message}
        </p>
      )}
      {error && <p class="error">{error}</p>}
      {value === undefined && <p aria-busy="true">Loading…</p>}
      {value && value.length === 0 && <p class="empty">No denials.</p>}
      <ul class="cards">
        {value?.map((d) => (
          <li key={d.id} class="card denial" data-denial-id={d.id}>
            <div class="row">
              <code class="action">{describeAction(d.action)}</code>
              <span class="muted">denied by {d.source}</span>
            </div>
            <p>{d.rationale}</p>
            <p class="muted">
              thread <a href={href({ view: 'thread', id: d.thread_id })}>{d.thread_id}</a> ·{' '}
              {new Date(d.created_at).toLocaleString()}
            </p>
            <div class="actions">
              {d.override ? (
                <span class="badge approved">retry approved by {d.override.approved_by}</span>
              ) : (
                <button type="button" onClick={() => approve(d)}>
                  Approve one retry
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
