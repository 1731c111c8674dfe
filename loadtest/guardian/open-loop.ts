// An open-loop load driver: request i is due at start + i / rate whatever happened to earlier ones,
// and its latency counts from that scheduled time, so a stalled server or client cannot hide its
// queueing (no coordinated omission). Bounded: a fixed count, each request with a hard timeout.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_SERVICE_TOKEN } from './processes.ts';

export type Sample<T> = {
  scheduledAt: number;
  sentAt: number;
  doneAt: number;
  result: T | undefined;
  error: string | undefined;
};

export async function openLoop<T>(opts: {
  ratePerS: number;
  durationMs: number;
  send: (i: number) => Promise<T>;
}): Promise<{ samples: Sample<T>[]; windowMs: number }> {
  const count = Math.max(1, Math.round((opts.ratePerS * opts.durationMs) / 1000));
  const intervalMs = 1000 / opts.ratePerS;
  const samples: Sample<T>[] = [];
  const pending: Promise<void>[] = [];
  const startAt = performance.now() + 20;
  let next = 0;
  while (next < count) {
    const now = performance.now();
    while (next < count && startAt + next * intervalMs <= now) {
      const i = next++;
      const sample: Sample<T> = {
        scheduledAt: startAt + i * intervalMs,
        sentAt: performance.now(),
        doneAt: 0,
        result: undefined,
        error: undefined,
      };
      samples.push(sample);
      pending.push(
        opts.send(i).then(
          (r) => {
            sample.doneAt = performance.now();
            sample.result = r;
          },
          (e: Error) => {
            sample.doneAt = performance.now();
            sample.error = e.message;
          },
        ),
      );
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return { samples, windowMs: count * intervalMs };
}

/** POST JSON over a keep-alive agent; rejects after `timeoutMs`. */
export function postJson(agent: http.Agent, url: URL, body: unknown, timeoutMs: number): Promise<unknown> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          authorization: `Bearer ${BENCH_SERVICE_TOKEN}`,
        },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at]!;
}

export const round2 = (n: number) => Math.round(n * 100) / 100;
