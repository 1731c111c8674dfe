// The workspace's threads with their status, environment and sandbox state; each opens its live view.
import { listThreads } from '../data.ts';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';

export function Threads() {
  const { value, error } = usePoll(listThreads, 5000);
  return (
    <section aria-labelledby="threads-title">
      <h1 id="threads-title">Threads</h1>
      {error && <p class="error">{error}</p>}
      {value === undefined && <p aria-busy="true">Loading…</p>}
      {value && value.length === 0 && <p class="empty">No threads yet.</p>}
      {value && value.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Thread</th>
              <th scope="col">Environment</th>
              <th scope="col">Status</th>
              <th scope="col">Sandbox</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {value.map((t) => (
              <tr key={t.id}>
                <td>
                  <a href={href({ view: 'thread', id: t.id })}>{t.id}</a>
                </td>
                <td>{t.environment_id}</td>
                <td>{t.status}</td>
                <td>{t.sandbox?.state ?? '—'}</td>
                <td>{new Date(t.created_at).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
