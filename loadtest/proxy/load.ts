// Load generators: keep-alive plain HTTP through a proxy at fixed concurrency (requests/s and
// latency percentiles), and CONNECT set-up (new connection + CONNECT + one GET in the tunnel).
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

/** `completed`: every request (or tunnel) that ended, warm-up and drain included: what CPU figures divide by. */
export type HttpResult = { requests: number; errors: number; rps: number; p50Ms: number; p99Ms: number; completed: number };
export type ConnectResult = { tunnels: number; errors: number; perSecond: number; completed: number };

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);

export async function loadHttp(opts: {
  proxyPort: number;
  url: string;
  headers: Record<string, string>;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
}): Promise<HttpResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let completed = 0;
  let measuring = false;
  let stop = false;
  const one = () =>
    new Promise<boolean>((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: opts.proxyPort,
          method: 'GET',
          path: opts.url,
          headers: opts.headers,
          agent,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
        },
      );
      req.on('error', () => resolve(false));
      req.end();
    });
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      const ok = await one();
      completed++;
      if (!measuring) continue;
      if (ok) latencies.push(performance.now() - t0);
      else errors++;
    }
  };
  const workers = Array.from({ length: opts.concurrency }, worker);
  await new Promise((r) => setTimeout(r, opts.warmupMs));
  measuring = true;
  const startedAt = performance.now();
  await new Promise((r) => setTimeout(r, opts.durationMs));
  measuring = false;
  const elapsedS = (performance.now() - startedAt) / 1000;
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    completed,
    errors,
    rps: Math.round(latencies.length / elapsedS),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
  };
}

export async function loadConnect(opts: {
  proxyPort: number;
  target: string;
  headers: Record<string, string>;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
}): Promise<ConnectResult> {
  const head =
    `CONNECT ${opts.target} HTTP/1.1\r\nHost: ${opts.target}\r\n` +
    Object.entries(opts.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('') +
    '\r\n';
  const get = `GET / HTTP/1.1\r\nHost: ${opts.target}\r\nConnection: close\r\n\r\n`;
  let tunnels = 0;
  let errors = 0;
  let completed = 0;
  let measuring = false;
  let stop = false;
  const one = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: opts.proxyPort, noDelay: true });
      let stage: 'connect' | 'get' = 'connect';
      let buf = '';
      const timer = setTimeout(() => socket.destroy(new Error('timeout')), 10_000);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      socket.setEncoding('latin1');
      socket.on('connect', () => socket.write(head));
      socket.on('data', (chunk: string) => {
        buf += chunk;
        if (stage === 'connect') {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (!buf.startsWith('HTTP/1.1 200') && !buf.startsWith('HTTP/1.0 200')) return done(false);
          stage = 'get';
          buf = buf.slice(end + 4);
          socket.write(get);
        }
        if (
          stage === 'get' &&
          /^HTTP\/1\.1 200[\s\S]*\r\n\r\n[\s\S]*ok from the benchmark upstream\n/.test(buf)
        )
          done(true);
      });
      socket.on('error', () => done(false));
      socket.on('close', () => done(false));
    });
  const worker = async () => {
    while (!stop) {
      const ok = await one();
      completed++;
      if (!measuring) continue;
      if (ok) tunnels++;
      else errors++;
    }
  };
  const workers = Array.from({ length: opts.concurrency }, worker);
  await new Promise((r) => setTimeout(r, opts.warmupMs));
  measuring = true;
  const startedAt = performance.now();
  await new Promise((r) => setTimeout(r, opts.durationMs));
  measuring = false;
  const elapsedS = (performance.now() - startedAt) / 1000;
  stop = true;
  await Promise.all(workers);
  return { tunnels, errors, perSecond: Math.round(tunnels / elapsedS), completed };
}
