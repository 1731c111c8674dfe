// `npm run bench`: every benchmark in sequence (one at a time: the machine has few cores), each as
// its own `npm run bench:<name>` process; prints one table of each bench's headline figures and
// its same-run baseline, then one JSON object (every bench's last line, by name) as the last line.
// A bench that fails is reported in the table and the run goes on; the exit code is then 1.
// BENCHES=proxy,turns limits the run to those benches.
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

type Row = [figure: string, paddock: string, baseline: string];
type Bench = { name: string; rows: (r: Record<string, unknown>) => Row[] };

const n = (v: unknown) => (typeof v === 'number' ? String(v) : v === undefined ? '—' : JSON.stringify(v));

const BENCHES: Bench[] = [
  {
    name: 'guardian',
    rows: (r) => [
      ['reviews/s 1 / 2 / 3 replicas', `${n(r['replicas_1_reviews_per_s'])} / ${n(r['replicas_2_reviews_per_s'])} / ${n(r['replicas_3_reviews_per_s'])}`, ''],
      ['CPU ms per review (guardian vs SDK call)', n(r['guardian_cpu_ms_per_review']), n(r['sdk_cpu_ms_per_call'])],
      ['overhead p50 / p99 ms', `${n(r['overhead_p50_ms'])} / ${n(r['overhead_p99_ms'])}`, ''],
      ['late approvals', n(r['late_approvals']), ''],
    ],
  },
  {
    name: 'proxy',
    rows: (r) => [
      ['plain HTTP req/s (vs Squid)', n(r['paddock_http_rps']), n(r['squid_http_rps'])],
      ['plain HTTP p99 ms (vs Squid)', n(r['paddock_http_p99_ms']), n(r['squid_http_p99_ms'])],
      ['CONNECT set-ups/s (vs Squid)', n(r['paddock_connect_per_s']), n(r['squid_connect_per_s'])],
      ['bare Node proxy: req/s, p99 ms, CONNECT/s', '', `${n(r['bare_node_http_rps'])}, ${n(r['bare_node_http_p99_ms'])}, ${n(r['bare_node_connect_per_s'])}`],
    ],
  },
  {
    name: 'sandbox',
    rows: (r) => [
      ['exec p50 ms (vs docker exec)', n(r['exec_p50_ms']), n(r['docker_exec_p50_ms'])],
      ['cold start p50 ms (vs docker run)', n(r['cold_start_p50_ms']), n(r['docker_run_p50_ms'])],
      ['warm claim p50 ms', n(r['warm_claim_p50_ms']), ''],
    ],
  },
  {
    name: 'turns',
    rows: (r) => [
      ['enqueue → first command p50 / p99 ms', `${n(r['enqueue_to_first_command_p50_ms'])} / ${n(r['enqueue_to_first_command_p99_ms'])}`, ''],
      ['turns/s (10 clients, 8 slots)', n(r['turns_per_s']), ''],
      ['three commands p50 ms (vs direct)', n(r['enqueue_to_turn_end_p50_ms']), n(r['baseline_direct_three_commands_p50_ms'])],
    ],
  },
  {
    name: 'queue',
    rows: (r) => {
      const base = (r['baseline_single_fifo'] ?? {}) as Record<string, unknown>;
      return [
        ['small tenant first start p99 ms (vs one FIFO)', n(r['small_tenant_first_start_p99_ms']), n(base['small_tenant_first_start_p99_ms'])],
        ['… in turn slots', n(r['small_tenant_first_start_p99_slots']), n(base['small_tenant_first_start_p99_slots'])],
        ['turns/s', n(r['turns_per_s']), n(base['turns_per_s'])],
      ];
    },
  },
  { name: 'analytics', rows: (r) => Object.entries(r).slice(0, 6).map(([k, v]): Row => [k, n(v), '']) },
];

/** Runs `npm run bench:<name>`, stderr passed through; resolves with its last stdout line parsed. */
function runBench(name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', `bench:${name}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`bench:${name} exited ${code}`));
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`bench:${name}: last line is not JSON: ${last.slice(0, 200)}`));
      }
    });
  });
}

const only = process.env['BENCHES']?.split(',').map((s) => s.trim());
const selected = BENCHES.filter((b) => !only || only.includes(b.name));
const results: Record<string, unknown> = {};
const table: [string, ...Row][] = [];
let failed = false;
for (const bench of selected) {
  process.stderr.write(`[bench] ${bench.name}…\n`);
  try {
    const r = await runBench(bench.name);
    results[bench.name] = r;
    for (const row of bench.rows(r)) table.push([bench.name, ...row]);
  } catch (err) {
    failed = true;
    results[bench.name] = { error: (err as Error).message };
    table.push([bench.name, 'FAILED', (err as Error).message, '']);
  }
}

const header: [string, ...Row] = ['bench', 'figure', 'paddock', 'baseline (same run)'];
const widths = header.map((_, i) => Math.max(...[header, ...table].map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`${new Date().toISOString()} · ${cpus().length} cores · ${Math.round(totalmem() / 2 ** 30)} GB`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of table) console.log(line(r));
console.log(JSON.stringify(results));
process.exit(failed ? 1 : 0);
