// Usage from the analytics API: the workspace's turns, tokens and credits by day or week over the last
// 30 days (workspace rows, a bar chart each), and the same period per member and per client.
import { useState } from 'preact/hooks';
import { get } from '../api.ts';
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

async function allRows(path: string): Promise<Row[]> {
  const rows: Row[] = [];
  let page: string | null = null;
  for (let i = 0; i < 20; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const p: Page = await get<Page>(page ? `${path}${sep}page=${encodeURIComponent(page)}` : path);
    rows.push(...p.data);
    if (!p.has_more || !p.next_page) break;
    page = p.next_page;
  }
  return rows;
}

const sum = (rows: Totals[], key: keyof Totals) => rows.reduce((s, r) => s + (r[key] ?? 0), 0);
const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString() : n.toFixed(2));

function Bars(props: { rows: Row[]; metric: keyof Totals; label: string; width: 'day' | 'week' }) {
  const max = Math.max(1, ...props.rows.map((r) => r[props.metric] ?? 0));
  const w = 600;
  const h = 120;
  const bw = props.rows.length ? w / props.rows.length : w;
  return (
    <figure class="chart">
      <figcaption>
        {props.label} per {props.width}: {fmt(sum(props.rows, props.metric))}
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${props.label} per ${props.width}`} preserveAspectRatio="none">
        {props.rows.map((r, i) => {
          const v = r[props.metric] ?? 0;
          const bh = (v / max) * (h - 4);
          return (
            <rect key={r.start_time} x={i * bw + 1} y={h - bh} width={Math.max(1, bw - 2)} height={bh} class="bar">
              <title>
                {new Date(r.start_time * 1000).toISOString().slice(0, 10)}: {fmt(v)}
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
  const base = `/v1/analytics/workspaces/${encodeURIComponent(props.who.workspace_id)}/usage`;
  const start = Math.floor(Date.now() / 1000) - DAYS * 86400;
  const { value, error } = usePoll(
    async () => {
      const [workspace, members] = await Promise.all([
        allRows(`${base}?start_time=${start}&group_by=${width}&group=workspace`),
        allRows(`${base}?start_time=${start}&group_by=${width}`),
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
              <Bars key={m.key} rows={value.workspace} metric={m.key} label={m.label} width={width} />
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
