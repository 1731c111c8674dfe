// End to end, the files API of a thread's workspace: a file in and out, a listing, a tar out and in;
// 200 MB streamed up and down (the worker's RSS is measured in its own process in
// workspace-kept.test.ts); `../`, absolute paths and a symlink to /etc refused with 400 naming the path;
// another workspace's token answers 404; a member cannot write in another member's thread.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { apiOf, type Cluster, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;
before(async () => {
  c = await startCluster('e2e-files', { workers: 1, worker: { warmPoolSize: 0 } });
  call = apiOf(c);
});
after(() => c?.close());

const config = { sandbox_mode: 'workspace-write', approval_policy: 'never' };

function rssBytes(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1]) * 1024;
}

async function raw(method: string, path: string, token: string, body?: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}) {
  return fetch(`${c.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(body === undefined ? {} : { body, duplex: 'half' }),
    signal: AbortSignal.timeout(120_000),
  } as RequestInit);
}

async function runCommands(token: string, threadId: string, commands: { argv: string[] }[]) {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { commands });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const end = await waitForTurnEnd(c, threadId, r.json.id);
  assert.equal(end.type, 'turn.completed', JSON.stringify(end));
}

// Eight distinct 1 MiB chunks, made once and never changed: the generator below yields them over
// and over, so the body is never whole in memory and the test itself makes no garbage while measuring.
const CHUNKS = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1024 * 1024, 17 + i));

/** `count` MiB of body, one chunk at a time. */
function* megabytes(count: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield CHUNKS[i % CHUNKS.length]!;
}

describe('the files API', () => {
  let owner: string;
  let wsId: string;
  let thread: string;
  before(async () => {
    const ws = await newWorkspace(c, 'files-a');
    owner = ws.owner;
    wsId = ws.id;
    thread = await newThread(c, owner, config);
  });

  test('one file in and out, a listing, a delete, and a tar of a directory both ways', async () => {
    const put = await raw('PUT', `/v1/threads/${thread}/files/src/hello.txt`, owner, 'hello files\n', {
      'content-type': 'text/plain',
    });
    assert.equal(put.status, 201, await put.clone().text());
    assert.deepEqual(await put.json(), { path: 'src/hello.txt', type: 'file', size: 12 });
    const got = await raw('GET', `/v1/threads/${thread}/files/src/hello.txt`, owner);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'hello files\n');
    // The sandbox sees it as its own user's file.
    await runCommands(owner, thread, [{ argv: ['sh', '-c', 'test "$(stat -c %u src/hello.txt)" = 1000'] }]);
    const list = await call('GET', `/v1/threads/${thread}/files?path=src`, owner);
    assert.equal(list.status, 200, JSON.stringify(list.json));
    assert.deepEqual(
      list.json.entries.map((e: { name: string; type: string; size: number }) => [e.name, e.type, e.size]),
      [['hello.txt', 'file', 12]],
    );
    const tarOut = await raw('GET', `/v1/threads/${thread}/archive?path=src`, owner);
    assert.equal(tarOut.status, 200);
    assert.equal(tarOut.headers.get('content-type'), 'application/x-tar');
    const tarBytes = Buffer.from(await tarOut.arrayBuffer());
    assert.ok(tarBytes.includes(Buffer.from('hello files')), 'the tar holds the file');
    // That tar back in under another directory: src/hello.txt appears as copy/src/hello.txt.
    const tarIn = await raw('PUT', `/v1/threads/${thread}/archive?path=copy`, owner, tarBytes, {
      'content-type': 'application/x-tar',
    });
    assert.equal(tarIn.status, 201, await tarIn.clone().text());
    const copied = await raw('GET', `/v1/threads/${thread}/files/copy/src/hello.txt`, owner);
    assert.equal(await copied.text(), 'hello files\n');
    const del = await raw('DELETE', `/v1/threads/${thread}/files/copy/src/hello.txt`, owner);
    assert.equal(del.status, 204);
    assert.equal((await raw('GET', `/v1/threads/${thread}/files/copy/src/hello.txt`, owner)).status, 404);
  });

  test("the thread shows its sandbox: running, then stopped (workspace kept, sized); files work either way", async () => {
    const running = await call('GET', `/v1/threads/${thread}`, owner);
    assert.equal(running.status, 200);
    assert.equal(running.json.sandbox.state, 'running');
    assert.ok(Date.parse(running.json.sandbox.expires_at) > Date.now());
    // The idle sweep as if the idle TTL had passed: the container goes, the workspace stays.
    assert.equal(await c.workers[0]!.manager.sweepIdle(Date.now() + 24 * 3600_000), 1);
    const stopped = await call('GET', `/v1/threads/${thread}`, owner);
    assert.equal(stopped.json.sandbox.state, 'stopped');
    assert.ok(stopped.json.sandbox.workspace_bytes > 0, JSON.stringify(stopped.json.sandbox));
    const got = await raw('GET', `/v1/threads/${thread}/files/src/hello.txt`, owner);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'hello files\n');
    assert.equal((await call('GET', `/v1/threads/${thread}`, owner)).json.sandbox.state, 'running');
  });

  test('path escapes are refused with 400 naming the path: ../, absolute, a symlink to /etc', async () => {
    await runCommands(owner, thread, [{ argv: ['ln', '-s', '/etc', 'etc-link'] }]);
    const cases = [
      ['GET', `/v1/threads/${thread}/files/${encodeURIComponent('../../etc/passwd')}`],
      ['PUT', `/v1/threads/${thread}/files/${encodeURIComponent('a/../../x')}`],
      ['GET', `/v1/threads/${thread}/files/${encodeURIComponent('/etc/passwd')}`],
      ['GET', `/v1/threads/${thread}/files/etc-link/passwd`],
      ['PUT', `/v1/threads/${thread}/files/etc-link/evil`],
      ['GET', `/v1/threads/${thread}/files?path=etc-link`],
      ['GET', `/v1/threads/${thread}/archive?path=etc-link`],
    ] as const;
    for (const [method, path] of cases) {
      const res = await raw(method, path, owner, method === 'PUT' ? 'x' : undefined, { 'content-type': 'text/plain' });
      const body = (await res.json()) as { error: { code: string; message: string; field?: string } };
      assert.equal(res.status, 400, `${method} ${path}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, 'bad_path');
      assert.equal(body.error.field, 'path');
      assert.match(body.error.message, /path "/);
    }
    // A tar whose entry climbs out is refused too, and nothing of it lands.
    const evilTar = tarOf('../escaped.txt', 'no');
    const res = await raw('PUT', `/v1/threads/${thread}/archive?path=x`, owner, evilTar, { 'content-type': 'application/x-tar' });
    assert.equal(res.status, 400, await res.text());
  });

  test("another workspace's thread is 404; a member cannot write in another member's thread", async () => {
    const other = await newWorkspace(c, 'files-b');
    for (const [method, path] of [
      ['GET', `/v1/threads/${thread}/files/src/hello.txt`],
      ['PUT', `/v1/threads/${thread}/files/src/x.txt`],
      ['GET', `/v1/threads/${thread}/files`],
      ['GET', `/v1/threads/${thread}/archive?path=src`],
    ] as const) {
      const res = await raw(method, path, other.owner, method === 'PUT' ? 'x' : undefined, { 'content-type': 'text/plain' });
      assert.equal(res.status, 404, `${method} ${path}`);
    }
    const m = await call('POST', `/v1/workspaces/${wsId}/members`, owner, {
      email: 'member@files-a.test',
      role: 'member',
      can_create_tokens: false,
    });
    assert.equal(m.status, 201, JSON.stringify(m.json));
    const member = m.json.access_token.secret as string;
    assert.equal((await raw('GET', `/v1/threads/${thread}/files/src/hello.txt`, member)).status, 200, 'members read');
    const w = await raw('PUT', `/v1/threads/${thread}/files/src/m.txt`, member, 'x', { 'content-type': 'text/plain' });
    assert.equal(w.status, 403);
  });

  test('200 MB up and back down, streamed: the same bytes come back', async () => {
    const sizeMb = 200;
    const expected = createHash('sha256');
    for (const chunk of megabytes(sizeMb)) expected.update(chunk);
    const expectedHex = expected.digest('hex');
    // Warm the paths once, then the idle RSS.
    await raw('GET', `/v1/threads/${thread}/files/src/hello.txt`, owner).then((r) => r.text());
    globalThis.gc?.();
    const idle = rssBytes();
    let peak = idle;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes());
    }, 20);
    try {
      // node:http with pipeline: the client side honours backpressure too.
      const up = await new Promise<{ status: number; text: () => Promise<string> }>((resolve, reject) => {
        const req = httpRequest(`${c.apiUrl}/v1/threads/${thread}/files/big.bin`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${owner}`,
            'content-type': 'application/octet-stream',
            'content-length': String(sizeMb * 1024 * 1024),
          },
        }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: async () => Buffer.concat(parts).toString() }));
        });
        req.on('error', reject);
        pipeline(Readable.from(megabytes(sizeMb)), req).catch(reject);
      });
      assert.equal(up.status, 201, await up.text());
      const got = createHash('sha256');
      const down = await new Promise<{ status: number; length: string | undefined }>((resolve, reject) => {
        const req = httpRequest(`${c.apiUrl}/v1/threads/${thread}/files/big.bin`, { headers: { authorization: `Bearer ${owner}` } }, (res) => {
          res.on('data', (d: Buffer) => got.update(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'] }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(down.status, 200);
      assert.equal(down.length, String(sizeMb * 1024 * 1024));
      assert.equal(got.digest('hex'), expectedHex);
    } finally {
      clearInterval(sampler);
    }
    // Client, orchestrator and worker share this process (and its garbage collector): its RSS is
    // noise here. The worker alone, in its own process, is held to a few MB in workspace-kept.test.ts.
    console.log(`files 200MB (client, API and worker in one process): RSS +${((peak - idle) / 1048576).toFixed(1)} MB`);
  });

  test("an environment naming an allowed image that no worker's engine has is a 400 naming image", async () => {
    const missing = await call('POST', '/v1/environments', owner, { name: 'nope', image: 'paddock/sandbox-base:no-such-tag' });
    assert.equal(missing.status, 400, JSON.stringify(missing.json));
    assert.equal(missing.json.error.code, 'image_missing');
    assert.equal(missing.json.error.field, 'image');
    const present = await call('POST', '/v1/environments', owner, { name: 'yes', image: c.image });
    assert.equal(present.status, 201, JSON.stringify(present.json));
  });

  test('an upload past files_max_upload_bytes is 413 (declared length, at the edge)', async () => {
    const res = await raw('PUT', `/v1/threads/${thread}/files/huge.bin`, owner, 'x', {
      'content-type': 'application/octet-stream',
    });
    assert.equal(res.status, 201, 'a small one is fine');
    // Declared 2 GiB: refused before any byte is sent on (the answer comes while the body is unsent).
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${c.apiUrl}/v1/threads/${thread}/files/huge.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/octet-stream', 'content-length': String(2 * 1024 ** 3) },
      }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write(CHUNKS[0]);
    });
    const big = { status };
    assert.equal(big.status, 413);
  });
});

/** A one-entry ustar archive, by hand (the test must not trust the code under test to make it). */
function tarOf(name: string, content: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0001750\0', 108);
  header.write('0001750\0', 116);
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
  header.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  body.write(content);
  return Buffer.concat([header, body, Buffer.alloc(1024)]);
}
