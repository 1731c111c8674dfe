// The guardian's reviews in the workspace's recent threads, filtered by outcome and risk level.
import { useState } from 'preact/hooks';
import { recentReviews } from '../data.ts';
import { usePoll } from '../poll.ts';
import { href } from '../router.ts';

const OUTCOMES = ['all', 'approved', 'denied', 'failed', 'timed_out'];
const RISKS = ['all', 'low', 'medium', 'high', 'critical'];

export function Reviews() {
  const { value, error } = usePoll(recentReviews, 5000);
  const [outcome, setOutcome] = useState('all');
  const [risk, setRisk] = useState('all');
  const shown = (value ?? []).filter(
    (r) => (outcome === 'all' || r['outcome'] === outcome) && (risk === 'all' || r['risk_level'] === risk),
  );
  return (
    <section aria-labelledby="reviews-title">
      <h1 id="reviews-title">Reviews</h1>
      <div class="filters">
        <label>
          Outcome{' '}
          <select value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
            {OUTCOMES.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label>
          Risk{' '}
          <select value={risk} onChange={(e) => setRisk((e.target as HTMLSelectElement).value)}>
            {RISKS.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
      </div>
      {error && <p class="error">{error}</p>}
      {value === undefined && <p aria-busy="true">Loading…</p>}
      {value && shown.length === 0 && <p class="empty">No reviews match.</p>}
      {shown.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Outcome</th>
              <th scope="col">Risk</th>
              <th scope="col">Rationale</th>
              <th scope="col">Thread</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.id} class="review-row">
                <td>
                  <span class={`badge ${String(r['outcome'])}`}>{String(r['outcome'])}</span>
                </td>
                <td>{String(r['risk_level'] ?? '—')}</td>
                <td>{String(r['rationale'] ?? '')}</td>
                <td>
                  <a href={href({ view: 'thread', id: r.thread_id })}>{r.thread_id}</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
