// `npm run bench:proxy`: the Paddock egress proxy (its real entry point, with the same allowlist
// as Squid: one name, one port) against Debian's Squid, both on loopback in front of one upstream.
// Measures keep-alive plain HTTP (requests/s, p50/p99 at fixed concurrency) and CONNECT set-up
// (new connection + CONNECT + one GET). A second baseline, a bare Node proxy (bare-node-proxy.ts:
// node:http and socket pipes, no checks), shows what Node's own HTTP stack costs on this machine.
// Last stdout line: one JSON object.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { egressKeys } from '@paddock/contracts';
import { issueExecCredential, putSandboxEgress } from '@paddock/sandbox-worker';
import { freePort, startRedis, waitFor } from '@paddock/testing';
import { REPO_ROOT } from '@paddock/platform';
import { loadConnect, loadHttp } from './load.ts';
import { startSquid } from './squid.ts';
import { cpuMs } from '../proc-cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? 32);
const connectConcurrency = Number(process.env['BENCH_CONNECT_CONCURRENCY'] ?? 16);
const HOST = 'bench.test';
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
const log = (msg: string) => process.stderr.write(`[bench:proxy] ${msg}\n`);

function startChild(
  args: string[],
  env: NodeJS.ProcessEnv,
  readyPattern?: RegExp,
): Promise<{ proc: ChildProcess; match: RegExpMatchArray | null }> {
  const proc = spawn(process.execPath, [...(process.env["BENCH_PROXY_NODE_FLAGS"] ?? "").split(" ").filter(Boolean), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  if (!readyPattern) return Promise.resolve({ proc, match: null });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(readyPattern);
      if (m) resolve({ proc, match: m });
    });
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err.slice(0, 1000)}`)));
  });
}

async function main() {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const client = redis.client();

  const upstream = await startChild([join(here, 'upstream.ts')], {}, /READY (\d+)/);
  const upstreamPort = Number(upstream.match?.[1]);

  // The Paddock proxy as `npm start` runs it: main.ts, a cluster file, Redis.
  const dir = mkdtempSync(join(tmpdir(), 'paddock-bench-proxy-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const paddockPort = await freePort();
  writeFileSync(
    join(dir, 'paddock.toml'),
    [
      '[egress_proxy]',
      'host = "127.0.0.1"',
      `port = ${paddockPort}`,
      // Loopback is where the benchmark's upstream lives: an operator-allowed range here.
      'allowed_private_ranges = ["127.0.0.1/32"]',
      `hosts = { "${HOST}" = ["127.0.0.1"] }`,
      '',
    ].join('\n'),
  );
  const paddock = await startChild([join(REPO_ROOT, 'services/egress-proxy/src/main.ts')], {
    PADDOCK_CONFIG: join(dir, 'paddock.toml'),
    PADDOCK_REDIS_URL: redis.url,
    PADDOCK_LOG_LEVEL: 'warn',
    // The proxy will not start without the guardian's service credential (the bench reviews nothing).
    PADDOCK_GUARDIAN_SERVICE_TOKEN: `bench-${'0'.repeat(40)}`,
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${paddockPort}/healthz`)).ok,
    20_000,
    'paddock egress proxy',
  );
  // The benchmark client is a "sandbox" at 127.0.0.1 on the operator listener's network (`host`).
  await putSandboxEgress(client, {
    sandbox_id: 'bench-sandbox',
    tenant: 'bench',
    thread_id: 'bench-thread',
    network: 'host',
    address: '127.0.0.1',
    policy: { mode: 'allowlist', allowed_domains: [HOST], denied_domains: [], allowed_ports: [upstreamPort] },
    escalation: 'none',
    grant_scope: 'once',
    policy_context: { sandbox_mode: 'workspace-write', approval_policy: 'never' },
  });
  const cred = await issueExecCredential(client, {
    sandboxId: 'bench-sandbox',
    execId: 'bench-exec',
    ttlMs: 3_600_000,
  });
  const auth = `Basic ${Buffer.from(`bench-sandbox:${cred.token}`).toString('base64')}`;

  const bare = await startChild([join(here, 'bare-node-proxy.ts')], {}, /READY (\d+)/);
  const barePort = Number(bare.match?.[1]);

  const squidPort = await freePort();
  const squid = await startSquid({ port: squidPort, allowedHost: HOST, address: '127.0.0.1', upstreamPort });
  cleanups.push(() => squid.stop());

  /** A phase with the CPU each process spent in it: the proxy's, the upstream's, this load generator's. */
  const measured = async <T>(proxyPid: number | undefined, run: () => Promise<T>) => {
    const before = [cpuMs(proxyPid), cpuMs(upstream.proc.pid)];
    const self = process.cpuUsage();
    const t0 = performance.now();
    const result = await run();
    const wallMs = performance.now() - t0;
    const used = process.cpuUsage(self);
    return {
      result,
      proxyCpuMs: cpuMs(proxyPid) - before[0]!,
      upstreamCpuMs: cpuMs(upstream.proc.pid) - before[1]!,
      loadCpuMs: (used.user + used.system) / 1000,
      wallMs,
    };
  };
  /** CPU ms per 1,000 requests (or tunnels): the phase's CPU over everything that completed in it. */
  const per1k = (cpu: number, completed: number) => Number(((cpu * 1000) / Math.max(1, completed)).toFixed(1));
  /** How busy the machine's cores were in a phase with these three processes alone. */
  const busy = (r: { proxyCpuMs: number; upstreamCpuMs: number; loadCpuMs: number; wallMs: number }) =>
    Number(((r.proxyCpuMs + r.upstreamCpuMs + r.loadCpuMs) / (r.wallMs * availableParallelism())).toFixed(2));
  const url = `http://${HOST}:${upstreamPort}/`;
  const headers = { host: `${HOST}:${upstreamPort}`, 'proxy-authorization': auth };
  const timing = { durationMs: seconds * 1000, warmupMs: 1000 };
  // Alternating order so neither proxy always runs on a warmer machine.
  log(`plain HTTP, ${concurrency} concurrent, ${seconds}s each`);
  const paddockHttpRun = await measured(paddock.proc.pid, () => loadHttp({ proxyPort: paddockPort, url, headers, concurrency, ...timing }));
  const squidHttpRun = await measured(squid.pid, () => loadHttp({ proxyPort: squidPort, url, headers, concurrency, ...timing }));
  const bareHttpRun = await measured(bare.proc.pid, () => loadHttp({ proxyPort: barePort, url, headers, concurrency, ...timing }));
  const [paddockHttp, squidHttp, bareHttp] = [paddockHttpRun.result, squidHttpRun.result, bareHttpRun.result];
  log(`CONNECT set-up, ${connectConcurrency} concurrent, ${seconds}s each`);
  const connectTo = (proxyPid: number | undefined, proxyPort: number) =>
    measured(proxyPid, () =>
      loadConnect({
        proxyPort,
        target: `${HOST}:${upstreamPort}`,
        headers: { 'proxy-authorization': auth },
        concurrency: connectConcurrency,
        ...timing,
      }),
    );
  const squidConnectRun = await connectTo(squid.pid, squidPort);
  const bareConnectRun = await connectTo(bare.proc.pid, barePort);
  const paddockConnectRun = await connectTo(paddock.proc.pid, paddockPort);
  const [squidConnect, bareConnect, paddockConnect] = [squidConnectRun.result, bareConnectRun.result, paddockConnectRun.result];

  // The proxy recorded its decisions (and refused none of these requests).
  await new Promise((r) => setTimeout(r, 300));
  const recorded = await client.xlen(egressKeys.decisions);

  const summary = {
    paddock_http_rps: paddockHttp.rps,
    squid_http_rps: squidHttp.rps,
    paddock_http_p50_ms: paddockHttp.p50Ms,
    squid_http_p50_ms: squidHttp.p50Ms,
    paddock_http_p99_ms: paddockHttp.p99Ms,
    squid_http_p99_ms: squidHttp.p99Ms,
    paddock_connect_per_s: paddockConnect.perSecond,
    squid_connect_per_s: squidConnect.perSecond,
    bare_node_http_rps: bareHttp.rps,
    bare_node_http_p99_ms: bareHttp.p99Ms,
    bare_node_connect_per_s: bareConnect.perSecond,
    // CPU per 1,000 requests / tunnels of each proxy process, and how busy the machine was (the
    // proxy, the upstream and this load generator together, over all cores) in its HTTP phase.
    paddock_http_cpu_ms_per_1k: per1k(paddockHttpRun.proxyCpuMs, paddockHttp.completed),
    squid_http_cpu_ms_per_1k: per1k(squidHttpRun.proxyCpuMs, squidHttp.completed),
    bare_node_http_cpu_ms_per_1k: per1k(bareHttpRun.proxyCpuMs, bareHttp.completed),
    paddock_connect_cpu_ms_per_1k: per1k(paddockConnectRun.proxyCpuMs, paddockConnect.completed),
    squid_connect_cpu_ms_per_1k: per1k(squidConnectRun.proxyCpuMs, squidConnect.completed),
    load_generator_http_cpu_ms_per_1k: per1k(paddockHttpRun.loadCpuMs + squidHttpRun.loadCpuMs, paddockHttp.completed + squidHttp.completed),
    upstream_http_cpu_ms_per_1k: per1k(paddockHttpRun.upstreamCpuMs + squidHttpRun.upstreamCpuMs, paddockHttp.completed + squidHttp.completed),
    machine_busy_paddock_http: busy(paddockHttpRun),
    machine_busy_squid_http: busy(squidHttpRun),
    paddock_errors: paddockHttp.errors + paddockConnect.errors,
    squid_errors: squidHttp.errors + squidConnect.errors,
    paddock_decisions_recorded: recorded,
    concurrency,
    connect_concurrency: connectConcurrency,
    duration_s: seconds,
  };
  console.log(JSON.stringify(summary));
}

async function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
}

try {
  await main();
  await cleanup();
} catch (err) {
  await cleanup();
  console.error(err);
  process.exit(1);
}
