// The approvals inbox: every pending approval request of the workspace's threads, oldest first, with
// the action, the reason, the time left, and the three decisions. Refreshed every 2 s.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, ok, sdk } from '../api.ts';
import { type Approval, describeAction, pendingApprovals } from '../data.ts';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';

function timeLeft(a: Approval, now: number): string {
  if (!a.expires_at) return '';
  const ms = Date.parse(a.expires_at) - now;
  if (ms <= 0) return 'timing out';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s left` : `${s} s left`;
}

export function Approvals() {
  const { value, error, refresh } = usePoll(pendingApprovals, 2000);
  const [now, setNow] = useState(Date.now());
  const [message, setMessage] = useState<string | undefined>(undefined);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  const decide = async (a: Approval, decision: 'approve' | 'approve_for_thread' | 'deny') => {
    try {
      await ok(sdk().api.POST('/v1/approvals/{id}', { params: { path: { id: a.id } }, body: { decision } }));
      setMessage(`${decision === 'deny' ? 'Denied' : 'Approved'}: ${describeAction(a.action)}`);
    } catch (e) {
      setMessage(e instanceof ApiError ? `${e.message} (${e.code})` : String(e));
    }
    await refresh();
  };

  return (
    <section aria-labelledby="approvals-title">
      <h1 id="approvals-title">Approvals</h1>
      {message && (
        <p class="notice" role="status">
          {message}
        </p>
      )}
      {error && <p class="error">{error}</p>}
      {value === undefined && <p aria-busy="true">Loading…</p>}
      {value && value.length === 0 && <p class="empty">Nothing waits for you.</p>}
      <ul class="cards" aria-live="polite">
        {value?.map((a) => (
          <li key={a.id} class="card approval" data-approval-id={a.id}>
            <div class="row">
              <code class="action">{describeAction(a.action)}</code>
              <span class="muted">{timeLeft(a, now)}</span>
            </div>
            {typeof a.action['cwd'] === 'string' && <p class="muted">in {a.action['cwd']}</p>}
            {a.action['permissions'] !== undefined && (
              <p class="muted">asks for {JSON.stringify(a.action['permissions'])}</p>
            )}
            <p>{a.reason}</p>
            {a.transcript && <pre class="transcript">{a.transcript}</pre>}
            <p class="muted">
              thread <a href={href({ view: 'thread', id: a.thread_id })}>{a.thread_id}</a>
            </p>
            <div class="actions">
              <button type="button" onClick={() => decide(a, 'approve')}>
                Approve
              </button>
              <button type="button" class="secondary" onClick={() => decide(a, 'approve_for_thread')}>
                Approve for thread
              </button>
              <button type="button" class="danger" onClick={() => decide(a, 'deny')}>
                Deny
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
