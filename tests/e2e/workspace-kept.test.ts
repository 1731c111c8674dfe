// End to end, workspaces outlive workers: a worker in its own process is SIGKILLed between two turns
// and a new worker process takes over; the second turn sees the first turn's files and the files API
// reaches the workspace through the new worker. The new worker's own RSS (read from /proc/<pid>) is
// measured while 200 MB stream up and back down through it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { sandboxKeys } from '@paddock/contracts';
import { apiOf, type Cluster, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;
const children: ChildProcess[] = [];
before(async () => {
  c = await startCluster('e2e-ws-kept', { workers: 0, worker: { warmPoolSize: 0 } });
  call = apiOf(c);
});
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await c?.close();
});

const config = { sandbox_mode: 'workspace-write', approval_policy: 'never' };

/** A worker in its own process (the worker-death fixture); resolves once it is ready. */
async function workerProcess(): Promise<{ child: ChildProcess; workerId: string }> {
  const { docker: _d, logger: _l, ...plain } = c.workerOptions();
  const child = spawn(process.execPath, [new URL('./fixtures/worker-process.ts', import.meta.url).pathname], {
    env: { ...process.env, WORKER_OPTIONS: JSON.stringify(plain) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, workerId: line.split(' ')[1]! };
}

async function runTurn(token: string, threadId: string, script: string) {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { commands: [{ argv: ['bash', '-c', script] }] });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const end = await waitForTurnEnd(c, threadId, r.json.id, 90_000);
  assert.equal(end.type, 'turn.completed', JSON.stringify(end));
}

async function getText(token: string, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${c.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(60_000) });
  return { status: res.status, text: await res.text() };
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;

const CHUNKS = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1024 * 1024, 31 + i));
function* megabytes(count: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield CHUNKS[i % CHUNKS.length]!;
}

/** `sizeMb` up into big.bin and back down, both streamed through node:http; the bytes must match. */
async function roundTrip(token: string, threadId: string, sizeMb: number): Promise<void> {
  const expected = createHash('sha256');
  for (const chunk of megabytes(sizeMb)) expected.update(chunk);
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      `${c.apiUrl}/v1/threads/${threadId}/files/big.bin`,
      {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'content-length': String(sizeMb * 1024 * 1024),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    pipeline(Readable.from(megabytes(sizeMb)), req).catch(reject);
  });
  assert.equal(status, 201);
  const got = createHash('sha256');
  const downStatus = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${c.apiUrl}/v1/threads/${threadId}/files/big.bin`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.on('data', (d: Buffer) => got.update(d));
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(downStatus, 200);
  assert.equal(got.digest('hex'), expected.digest('hex'));
}

describe('workspaces outlive their worker', () => {
  test('SIGKILL the worker between two turns: the second turn (on a new worker) sees the first turn\'s files', async () => {
    const ws = await newWorkspace(c, 'kept');
    const threadId = await newThread(c, ws.owner, config);
    const first = await workerProcess();
    await runTurn(ws.owner, threadId, 'echo "from the first turn" > kept.txt');
    const sandboxId = await c.client.get(sandboxKeys.threadSandbox(ws.id, threadId));
    assert.ok(sandboxId);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');

    const second = await workerProcess();
    await runTurn(ws.owner, threadId, 'cat kept.txt > seen.txt');
    // Same workspace (same sandbox id), now the new worker's.
    assert.equal(await c.client.get(sandboxKeys.threadSandbox(ws.id, threadId)), sandboxId);
    const seen = await getText(ws.owner, `/v1/threads/${threadId}/files/seen.txt`);
    assert.equal(seen.status, 200);
    assert.equal(seen.text, 'from the first turn\n');

    // The files API through the new worker process: 200 MB up and down, its RSS measured from /proc
    // once the worker's heap has reached its working size (a first 64 MB round trip).
    const sizeMb = Number(process.env['FILES_MB'] ?? 200);
    const pid = second.child.pid!;
    await roundTrip(ws.owner, threadId, 64);
    const idle = rssOf(pid);
    let peak = idle;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pid));
    }, 10);
    try {
      await roundTrip(ws.owner, threadId, sizeMb);
    } finally {
      clearInterval(sampler);
    }
    const growthMb = (peak - idle) / 1048576;
    console.log(`worker RSS: idle ${(idle / 1048576).toFixed(1)} MB, peak ${(peak / 1048576).toFixed(1)} MB, growth ${growthMb.toFixed(1)} MB for ${sizeMb} MB up and down`);
    // Streamed means bounded by buffers, not by the file: a few MB of stream buffers plus what V8's
    // young generation holds between collections (up to 3 × 16 MB semi-spaces; seen 0.6–21 MB here).
    // Buffering the file would add its whole size (200 MB).
    assert.ok(growthMb < 48, `the worker's RSS grew ${growthMb.toFixed(1)} MB while streaming ${sizeMb} MB`);
  });
});
