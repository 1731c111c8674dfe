// Usage from the analytics API: the workspace's turns, tokens and credits by day or week over the last
// 30 days (workspace rows, a bar chart each), and the same period per member and per client.
import { useState } from 'preact/hooks';
import { ok, sdk } from '../api.ts';
import { usePoll } from '../poll.ts';
import type { Who } from '../session.ts';

type Totals = {
  turns: number;
  threads: number;
  credits: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  sandbox_seconds: number;
};
type Row = Totals & { start_time: number; user?: string; clients: (Totals & { client: string })[] };
type Page = { data: Row[]; has_more: boolean; next_page: string | null };

const DAYS = 30;
const METRICS: { key: keyof Totals; label: string }[] = [
  { key: 'turns', label: 'Turns' },
  { key: 'input_tokens', label: 'Input tokens' },
  { key: 'output_tokens', label: 'Output tokens' },
  { key: 'credits', label: 'Credits' },
];

/** Every row of the period, page after page (bounded). */
async function allRows(
  workspaceId: string,
  query: { start_time: number; group_by: 'day' | 'week'; group?: 'workspace' },
): Promise<Row[]> {
  const rows: Row[] = [];
  let page: string | null = null;
  for (let i = 0; i < 20; i++) {
    const p = (await ok(
      sdk().api.GET('/v1/analytics/workspaces/{workspace_id}/usage', {
        params: { path: { workspace_id: workspaceId }, query: page ? { page } : query },
      }),
    )) as Page;
    rows.push(...p.data);
    if (!p.has_more || !p.next_page) break;
    page = p.next_page;
  }
  return rows;
}

const sum = (rows: Totals[], key: keyof Totals) => rows.reduce((s, r) => s + (r[key] ?? 0), 0);
const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString() : n.toFixed(2));

/** Every bucket start of the period (UTC days, or weeks from Monday), so empty days show as gaps. */
function bucketStarts(startSec: number, width: 'day' | 'week'): number[] {
  const day = 86_400;
  let first = Math.floor(startSec / day) * day;
  if (width === 'week') first -= ((new Date(first * 1000).getUTCDay() + 6) % 7) * day;
  const step = width === 'week' ? 7 * day : day;
  const out: number[] = [];
  for (let t = first; t <= Date.now() / 1000 && out.length < 60; t += step) out.push(t);
  return out;
}

function Bars(props: { rows: Row[]; start: number; metric: keyof Totals; label: string; width: 'day' | 'week' }) {
  const byStart = new Map(props.rows.map((r) => [r.start_time, r]));
  const buckets = bucketStarts(props.start, props.width);
  const values = buckets.map((t) => byStart.get(t)?.[props.metric] ?? 0);
  const max = Math.max(1, ...values);
  const w = 600;
  const h = 120;
  const bw = buckets.length ? w / buckets.length : w;
  return (
    <figure class="chart">
      <figcaption>
        {props.label} per {props.width}: {fmt(sum(props.rows, props.metric))}
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${props.label} per ${props.width}`} preserveAspectRatio="none">
        {buckets.map((t, i) => {
          const v = values[i] ?? 0;
          const bh = (v / max) * (h - 4);
          return (
            <rect key={t} x={i * bw + 1} y={h - bh} width={Math.max(1, bw - 2)} height={bh} class="bar">
              <title>
                {new Date(t * 1000).toISOString().slice(0, 10)}: {fmt(v)}
              </title>
            </rect>
          );
        })}
      </svg>
    </figure>
  );
}

export function Usage(props: { who: Who }) {
  const [width, setWidth] = useState<'day' | 'week'>('day');
  const start = Math.floor(Date.now() / 1000) - DAYS * 86400;
  const { value, error } = usePoll(
    async () => {
      const [workspace, members] = await Promise.all([
        allRows(props.who.workspace_id, { start_time: start, group_by: width, group: 'workspace' }),
        allRows(props.who.workspace_id, { start_time: start, group_by: width }),
      ]);
      return { workspace, members };
    },
    10_000,
    [width],
  );

  const perMember = new Map<string, Row[]>();
  const perClient = new Map<string, Totals[]>();
  for (const r of value?.members ?? []) {
    const key = r.user ?? '(unknown)';
    perMember.set(key, [...(perMember.get(key) ?? []), r]);
  }
  for (const r of value?.workspace ?? []) {
    for (const c of r.clients) perClient.set(c.client, [...(perClient.get(c.client) ?? []), c]);
  }

  return (
    <section aria-labelledby="usage-title">
      <div class="row">
        <h1 id="usage-title">Usage, last {DAYS} days</h1>
        <label>
          Group by{' '}
          <select value={width} onChange={(e) => setWidth((e.target as HTMLSelectElement).value as 'day' | 'week')}>
            <option value="day">day</option>
            <option value="week">week</option>
          </select>
        </label>
      </div>
      {error && <p class="error">{error}</p>}
      {value === undefined && <p aria-busy="true">Loading…</p>}
      {value && (
        <>
          <dl class="totals">
            {METRICS.map((m) => (
              <div key={m.key}>
                <dt>{m.label}</dt>
                <dd data-total={m.key}>{fmt(sum(value.workspace, m.key))}</dd>
              </div>
            ))}
          </dl>
          <div class="charts">
            {METRICS.map((m) => (
              <Bars key={m.key} rows={value.workspace} start={start} metric={m.key} label={m.label} width={width} />
            ))}
          </div>
          <h2>By member</h2>
          <TotalsTable rows={perMember} first="Member" />
          <h2>By client</h2>
          <TotalsTable rows={perClient} first="Client" />
        </>
      )}
    </section>
  );
}

function TotalsTable(props: { rows: Map<string, Totals[]>; first: string }) {
  if (props.rows.size === 0) return <p class="empty">No usage in this period.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">{props.first}</th>
          {METRICS.map((m) => (
            <th key={m.key} scope="col">
              {m.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {[...props.rows.entries()].map(([name, rows]) => (
          <tr key={name}>
            <th scope="row">{name}</th>
            {METRICS.map((m) => (
              <td key={m.key}>{fmt(sum(rows, m.key))}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
