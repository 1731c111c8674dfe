// Repository in, changes out, end to end: a real git smart-HTTP server on loopback that requires a
// token; a thread on its repository at a given (not the newest) commit; a scripted turn edits two
// files and deletes one; the events hold file_change items and turn.completed names the changes;
// GET .../diff applies with `git apply` to a fresh clone of that commit and reproduces the edit.
// The token is nowhere: not in the sandbox (env, /proc/*/environ, .git/config), events, worker logs,
// or any Redis value. A checkout that cannot succeed is a turn.failed naming the repository.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '@paddock/platform';
import { startGitServer, type GitServer } from '@paddock/testing';
import type { ThreadEvent } from '@paddock/contracts';
import { apiOf, type Cluster, jsonlEvents, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

const TOKEN = `gittok-${process.pid}-${Math.random().toString(36).slice(2)}`;
const TOKEN_B64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');

let c: Cluster;
let call: ReturnType<typeof apiOf>;
let git: GitServer;
let dir: string;
let firstCommit: string;
const logLines: string[] = [];

const sh = (args: string[], cwd: string) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  }).trim();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pdk-e2e-repo-'));
  const src = join(dir, 'src');
  sh(['init', '-q', src], dir);
  writeFileSync(join(src, 'a.txt'), 'alpha\none\n');
  writeFileSync(join(src, 'b.txt'), 'beta\n');
  writeFileSync(join(src, 'c.txt'), 'gamma, to be deleted\n');
  writeFileSync(join(src, 'keep.txt'), 'untouched\n');
  sh(['add', '-A'], src);
  sh(['commit', '-qm', 'first'], src);
  firstCommit = sh(['rev-parse', 'HEAD'], src);
  writeFileSync(join(src, 'later.txt'), 'a later commit the thread must not see\n');
  sh(['add', '-A'], src);
  sh(['commit', '-qm', 'second'], src);
  sh(['clone', '-q', '--bare', src, join(dir, 'served', 'repo.git')], dir);
  git = await startGitServer(join(dir, 'served'), { token: TOKEN });
  const workerLogger = createLogger('sandbox-worker', 'debug', { write: (line: string) => void logLines.push(line) });
  c = await startCluster('e2e-repository', {
    worker: {
      logger: workerLogger,
      env: { PADDOCK_E2E_MODEL_KEY: 'test-key', PADDOCK_E2E_GIT_TOKEN: TOKEN },
      repositories: {
        hosts: [git.host],
        credentials: { e2e: { env_key: 'PADDOCK_E2E_GIT_TOKEN', hosts: [git.host] } },
        checkoutTimeoutMs: 60_000,
        diffMaxBytes: 256 * 1024,
      },
    },
  });
  call = apiOf(c);
});
after(async () => {
  await c?.close();
  await git?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function threadOn(token: string, repository: Record<string, unknown>): Promise<string> {
  const e = await call('POST', '/v1/environments', token, { name: 'repo', image: c.image, repository });
  assert.equal(e.status, 201, JSON.stringify(e.json));
  const t = await call('POST', '/v1/threads', token, { environment_id: e.json.id, config: {} });
  assert.equal(t.status, 201, JSON.stringify(t.json));
  return t.json.id as string;
}

async function turn(token: string, threadId: string, commands: { cmd: string }[]) {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, { commands });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const end = await waitForTurnEnd(c, threadId, r.json.id as string, 120_000);
  return { turnId: r.json.id as string, end };
}

/** Every value in Redis as text: strings, hashes, lists, sets, sorted sets and streams. */
async function dumpRedis(): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  let rounds = 0;
  do {
    const [next, found] = await c.client.scan(cursor, 'COUNT', '500');
    cursor = next;
    for (const key of found) {
      const type = await c.client.type(key);
      out.push(key);
      if (type === 'string') out.push((await c.client.get(key)) ?? '');
      else if (type === 'hash') out.push(JSON.stringify(await c.client.hgetall(key)));
      else if (type === 'list') out.push(JSON.stringify(await c.client.lrange(key, 0, -1)));
      else if (type === 'set') out.push(JSON.stringify(await c.client.smembers(key)));
      else if (type === 'zset') out.push(JSON.stringify(await c.client.zrange(key, '0', '-1', 'WITHSCORES')));
      else if (type === 'stream') out.push(JSON.stringify(await c.client.xrange(key, '-', '+')));
    }
  } while (cursor !== '0' && ++rounds < 10_000);
  return out.join('\n');
}

describe('a thread on a repository at a given commit', () => {
  let ws: { id: string; owner: string };
  let threadId: string;
  let events: ThreadEvent[];
  let turnId: string;

  before(async () => {
    ws = await newWorkspace(c, 'repo-ws');
    threadId = await threadOn(ws.owner, { url: `${git.url}/repo.git`, ref: firstCommit, credential: 'e2e' });
    const r = await turn(ws.owner, threadId, [
      { cmd: 'test "$(git rev-parse HEAD)" = "' + firstCommit + '" && test ! -e later.txt && echo AT-COMMIT' },
      { cmd: "sed -i 's/one/ONE, edited/' a.txt" },
      { cmd: 'printf "more beta\\n" >> b.txt && rm c.txt' },
      // What the sandbox can see, so the events would carry the token if it were there.
      { cmd: 'id -u; env; cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"; cat .git/config' },
    ]);
    turnId = r.turnId;
    assert.equal(r.end.type, 'turn.completed', JSON.stringify(r.end));
    events = await jsonlEvents(c, ws.owner, threadId);
  });

  test('the workspace is the repository at that commit, writable by the sandbox user', () => {
    const outputs = events.flatMap((e) =>
      e.type === 'item.completed' && e.item.type === 'command_execution' ? [e.item] : [],
    );
    assert.ok(outputs[0]?.aggregated_output.includes('AT-COMMIT'), JSON.stringify(outputs[0]));
    assert.equal(outputs[1]?.exit_code, 0);
    assert.equal(outputs[2]?.exit_code, 0);
    assert.ok(git.requests.length > 0 && git.requests.some((r) => r.authorized), 'the worker fetched with the token');
  });

  test('the events hold file_change items and turn.completed names the changed files', () => {
    const changes = events.flatMap((e) =>
      e.type === 'item.completed' && e.item.type === 'file_change' ? e.item.changes : [],
    );
    assert.deepEqual(
      changes.sort((x, y) => x.path.localeCompare(y.path)),
      [
        { path: 'a.txt', kind: 'update' },
        { path: 'b.txt', kind: 'update' },
        { path: 'c.txt', kind: 'delete' },
      ],
    );
    const end = events.find((e) => e.type === 'turn.completed' && e.turn_id === turnId);
    assert.ok(end && end.type === 'turn.completed');
    assert.deepEqual({ ...end.changes, files: [...(end.changes?.files ?? [])].sort() }, { files: ['a.txt', 'b.txt', 'c.txt'], count: 3 });
  });

  test('GET diff applies with git apply to a fresh clone of the commit and reproduces the edit', async () => {
    const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/diff`, { headers: { authorization: `Bearer ${ws.owner}` } });
    assert.equal(res.status, 200);
    const diff = await res.text();
    assert.match(diff, /^diff --git a\/a.txt b\/a.txt/m);
    const fresh = join(dir, `fresh-${Date.now()}`);
    sh(['clone', '-q', join(dir, 'served', 'repo.git'), fresh], dir);
    sh(['checkout', '-q', '--detach', firstCommit], fresh);
    writeFileSync(join(dir, 'turn.diff'), diff);
    sh(['apply', '--index', join(dir, 'turn.diff')], fresh);
    assert.equal(readFileSync(join(fresh, 'a.txt'), 'utf8'), 'alpha\nONE, edited\n');
    assert.equal(readFileSync(join(fresh, 'b.txt'), 'utf8'), 'beta\nmore beta\n');
    assert.equal(existsSync(join(fresh, 'c.txt')), false);
    assert.equal(readFileSync(join(fresh, 'keep.txt'), 'utf8'), 'untouched\n');

    const since = await fetch(`${c.apiUrl}/v1/threads/${threadId}/diff?since_turn=${turnId}`, {
      headers: { authorization: `Bearer ${ws.owner}` },
    });
    assert.equal(since.status, 200);
    assert.equal(await since.text(), diff, 'the only turn started at the base');
    const unknown = await call('GET', `/v1/threads/${threadId}/diff?since_turn=turn_nope`, ws.owner);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'not_found');
  });

  test("another workspace's token gets 404 for the thread's diff", async () => {
    const other = await newWorkspace(c, 'repo-other');
    const r = await call('GET', `/v1/threads/${threadId}/diff`, other.owner);
    assert.equal(r.status, 404);
  });

  test('the credential appears nowhere: sandbox, events, worker logs, Redis', async () => {
    const everything = [JSON.stringify(events), logLines.join(''), await dumpRedis()].join('\n');
    assert.ok(everything.includes('AT-COMMIT'), 'the scan sees the events');
    assert.ok(everything.includes(`url = ${git.url}/repo.git`), 'the sandbox printed .git/config (the clean URL)');
    assert.ok(everything.includes('PADDOCK_E2E_MODEL_KEY') === false, "the worker's own env is not the sandbox's");
    // The worker's own mirror cache (no data dir here: under the OS temp dir) holds no token either.
    const mirrors = join(tmpdir(), 'repo-mirrors');
    const mirrorConfigs = readdirSync(mirrors).filter((m) => m.endsWith('.git')).map((m) => readFileSync(join(mirrors, m, 'config'), 'utf8'));
    assert.ok(mirrorConfigs.some((cfg) => cfg.includes(`${git.url}/repo.git`)), 'the mirror of this repository is there');
    for (const secret of [TOKEN, TOKEN_B64]) {
      assert.equal(everything.includes(secret), false, 'the token leaked');
      assert.equal(mirrorConfigs.join('\n').includes(secret), false, 'the token is in a mirror config');
    }
  });

  test('the sandbox moving refs/paddock/base does not move the base the diff is taken against', async () => {
    const before = await (await fetch(`${c.apiUrl}/v1/threads/${threadId}/diff`, { headers: { authorization: `Bearer ${ws.owner}` } })).text();
    const r = await turn(ws.owner, threadId, [
      { cmd: 'git -c user.name=x -c user.email=x@x commit -qam moved && git update-ref refs/paddock/base HEAD && git rev-parse refs/paddock/base' },
    ]);
    assert.equal(r.end.type, 'turn.completed', JSON.stringify(r.end));
    const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/diff`, { headers: { authorization: `Bearer ${ws.owner}` } });
    assert.equal(res.headers.get('x-paddock-diff-from'), firstCommit);
    assert.equal(await res.text(), before);
  });
});

describe("a thread's diffs across turns (kept when the workspace did not move, recomputed when it did)", () => {
  test('base and since_turn diffs after an editing turn, a turn that changes nothing, and another edit', async () => {
    const ws = await newWorkspace(c, 'repo-turns');
    const threadId = await threadOn(ws.owner, { url: `${git.url}/repo.git`, ref: firstCommit, credential: 'e2e' });
    const diffOf = async (since?: string) => {
      const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/diff${since ? `?since_turn=${since}` : ''}`, {
        headers: { authorization: `Bearer ${ws.owner}` },
      });
      assert.equal(res.status, 200);
      return { text: await res.text(), atTurn: res.headers.get('x-paddock-diff-at-turn') };
    };
    const t1 = await turn(ws.owner, threadId, [{ cmd: "sed -i 's/one/ONE/' a.txt" }]);
    assert.equal(t1.end.type, 'turn.completed', JSON.stringify(t1.end));
    const afterFirst = await diffOf();
    assert.match(afterFirst.text, /^\+ONE$/m);

    const t2 = await turn(ws.owner, threadId, [{ cmd: 'cat a.txt' }, { cmd: 'true' }]);
    assert.equal(t2.end.type, 'turn.completed', JSON.stringify(t2.end));
    assert.ok(t2.end.type === 'turn.completed');
    assert.deepEqual(t2.end.changes, { files: [], count: 0 });
    const base2 = await diffOf();
    assert.equal(base2.text, afterFirst.text, 'nothing moved: the base diff is the same');
    assert.equal(base2.atTurn, t2.turnId, 'and it is current as of the second turn');
    assert.equal((await diffOf(t2.turnId)).text, '', 'the second turn changed nothing');
    assert.equal((await diffOf(t1.turnId)).text, afterFirst.text, 'since the first turn: its edit');

    const t3 = await turn(ws.owner, threadId, [{ cmd: 'printf "kept, then edited\\n" > keep.txt' }]);
    assert.equal(t3.end.type, 'turn.completed', JSON.stringify(t3.end));
    const base3 = (await diffOf()).text;
    assert.match(base3, /^\+ONE$/m);
    assert.match(base3, /^\+kept, then edited$/m);
    const since2 = (await diffOf(t2.turnId)).text;
    assert.match(since2, /^diff --git a\/keep.txt b\/keep.txt/m);
    assert.doesNotMatch(since2, /a\.txt/, 'since the second turn: only the third turn\'s edit');
    assert.equal((await diffOf(t1.turnId)).text, base3, 'the first turn started at the base');

    // An edit whose modification time is set back (no directory changes with it), then a new file
    // dated 2001: the change check reads status-change times, which no process can set back, so
    // each is seen after its own command. The sleep puts the previous turn's edits outside the
    // check's margin.
    const t4 = await turn(ws.owner, threadId, [
      { cmd: 'sleep 1.5' },
      { cmd: "printf 'b2\\n' >> b.txt && touch -d '2001-01-01' b.txt" },
      { cmd: "printf 'old\\n' > aged.txt && touch -d '2001-01-01' aged.txt" },
    ]);
    assert.equal(t4.end.type, 'turn.completed', JSON.stringify(t4.end));
    assert.ok(t4.end.type === 'turn.completed');
    assert.deepEqual([...(t4.end.changes?.files ?? [])].sort(), ['aged.txt', 'b.txt']);
    const events = await jsonlEvents(c, ws.owner, threadId);
    const items = events.flatMap((e) =>
      e.type === 'item.completed' && e.turn_id === t4.turnId && e.item.type === 'file_change' ? [e.item.changes] : [],
    );
    assert.deepEqual(items, [[{ path: 'b.txt', kind: 'update' }], [{ path: 'aged.txt', kind: 'add' }]], 'one item after each');
    assert.match((await diffOf(t4.turnId)).text, /^\+b2$/m);
  });
});

describe('a thread with no repository: the first turn makes one', () => {
  test('its base is the workspace before the first turn, on the branch; the turn start is on a hidden ref; diffs work', async () => {
    const ws = await newWorkspace(c, 'repo-none');
    const e = await call('POST', '/v1/environments', ws.owner, { name: 'plain', image: c.image });
    assert.equal(e.status, 201, JSON.stringify(e.json));
    const t = await call('POST', '/v1/threads', ws.owner, { environment_id: e.json.id, config: {} });
    assert.equal(t.status, 201, JSON.stringify(t.json));
    const threadId = t.json.id as string;
    const t1 = await turn(ws.owner, threadId, [{ cmd: 'printf "new\\n" > made.txt' }]);
    assert.equal(t1.end.type, 'turn.completed', JSON.stringify(t1.end));
    assert.ok(t1.end.type === 'turn.completed');
    assert.deepEqual(t1.end.changes?.files, ['made.txt']);
    const t2 = await turn(ws.owner, threadId, [
      { cmd: 'git log --format=%s HEAD && git for-each-ref --format="%(refname)" refs/paddock && git status --porcelain' },
    ]);
    assert.equal(t2.end.type, 'turn.completed', JSON.stringify(t2.end));
    const events = await jsonlEvents(c, ws.owner, threadId);
    const out = events.flatMap((ev) =>
      ev.type === 'item.completed' && ev.turn_id === t2.turnId && ev.item.type === 'command_execution' ? [ev.item] : [],
    )[0];
    assert.equal(out?.exit_code, 0, JSON.stringify(out));
    const lines = out!.aggregated_output.trim().split('\n');
    assert.equal(lines[0], 'the workspace before the first turn', 'the base commit is on the branch');
    assert.ok(lines.includes('refs/paddock/base'), out!.aggregated_output);
    assert.ok(lines.includes(`refs/paddock/turns/${t1.turnId}`), out!.aggregated_output);
    assert.ok(lines.includes('?? made.txt'), 'the user\'s index is untouched: the turn\'s file is untracked');
    const diff = await fetch(`${c.apiUrl}/v1/threads/${threadId}/diff`, { headers: { authorization: `Bearer ${ws.owner}` } });
    assert.equal(diff.status, 200);
    assert.match(await diff.text(), /^\+new$/m);
  });
});

describe('a checkout that cannot succeed ends the turn naming the repository and the reason', () => {
  test('an unknown ref, a host off the list and an unknown credential', async () => {
    const ws = await newWorkspace(c, 'repo-fail');
    const cases = [
      { repository: { url: `${git.url}/repo.git`, ref: 'no-such-branch', credential: 'e2e' }, reason: /no-such-branch/ },
      { repository: { url: 'http://127.0.0.2:9/repo.git' }, reason: /not one of the cluster's repository hosts/ },
      { repository: { url: `${git.url}/repo.git`, credential: 'nope' }, reason: /"nope" is not one of the cluster's repository credentials/ },
      { repository: { url: `${git.url}/repo.git` }, reason: /could not be checked out: .+/ }, // no token: the server refuses
    ];
    for (const k of cases) {
      const threadId = await threadOn(ws.owner, k.repository);
      const { end } = await turn(ws.owner, threadId, [{ cmd: 'echo never' }]);
      assert.equal(end.type, 'turn.failed', JSON.stringify(end));
      assert.ok(end.type === 'turn.failed');
      assert.equal(end.error.code, 'checkout_failed');
      assert.ok(end.error.message.startsWith(`the repository ${k.repository.url} could not be checked out: `), end.error.message);
      assert.match(end.error.message, k.reason);
    }
  });
});

describe('apply_patch in an agent turn (fake model)', () => {
  test('inside the writable roots it is applied; outside it is reviewed, and denied it is not applied', async () => {
    const ws = await newWorkspace(c, 'patch-ws');
    const e = await call('POST', '/v1/environments', ws.owner, { name: 'plain', image: c.image });
    const t = await call('POST', '/v1/threads', ws.owner, {
      environment_id: e.json.id,
      config: { sandbox_mode: 'workspace-write', approval_policy: 'on-request', approvals_reviewer: 'user' },
    });
    const threadId = t.json.id as string;
    const inside = ['*** Begin Patch', '*** Update File: base.txt', '@@', ' one', '-two', '+TWO', '*** Add File: sub/new.txt', '+hello', '*** End Patch'].join('\n');
    const outside = ['*** Begin Patch', '*** Add File: /etc/paddock-evil.txt', '+owned', '*** End Patch'].join('\n');
    const requestsBefore = c.agentModel.requests.length;
    c.agentModel.script(
      { kind: 'tool_call', name: 'shell', arguments: { command: ['bash', '-c', 'printf "one\\ntwo\\n" > base.txt'] } },
      { kind: 'tool_call', name: 'apply_patch', arguments: { input: inside } },
      { kind: 'tool_call', name: 'apply_patch', arguments: { input: outside } },
      { kind: 'text', text: 'Patched.' },
    );
    const r = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, { input: 'patch the files' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const turnId = r.json.id as string;
    // The outside write waits for a person: deny it through the API.
    let pending: { id: string; action: Record<string, unknown> }[] = [];
    for (let i = 0; i < 200 && pending.length === 0; i++) {
      pending = (await call('GET', `/v1/threads/${threadId}/approvals?status=pending`, ws.owner)).json.items ?? [];
      if (pending.length === 0) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(pending.length, 1, 'one approval request');
    assert.deepEqual(pending[0]!.action, { type: 'file_write', paths: ['/etc/paddock-evil.txt'] });
    const d = await call('POST', `/v1/approvals/${pending[0]!.id}`, ws.owner, { decision: 'deny' });
    assert.equal(d.status, 200, JSON.stringify(d.json));
    const end = await waitForTurnEnd(c, threadId, turnId, 60_000);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));

    const events = await jsonlEvents(c, ws.owner, threadId);
    const fileChanges = events.flatMap((ev) =>
      ev.type === 'item.completed' && ev.turn_id === turnId && ev.item.type === 'file_change' ? [ev.item] : [],
    );
    // The shell's write (found by the snapshot), then the applied patch; the denied one has no item.
    assert.deepEqual(
      fileChanges.map((i) => ({ changes: i.changes, status: i.status })),
      [
        { changes: [{ path: 'base.txt', kind: 'add' }], status: 'completed' },
        {
          changes: [
            { path: 'base.txt', kind: 'update' },
            { path: 'sub/new.txt', kind: 'add' },
          ],
          status: 'completed',
        },
      ],
    );
    const answers = (c.agentModel.requests.at(-1)!.body['messages'] as { role: string; content?: string }[])
      .filter((m) => m.role === 'tool')
      .map((m) => String(m.content));
    assert.match(answers.at(-2)!, /^Success\. Updated the following files:\nM base\.txt\nA sub\/new\.txt$/);
    assert.match(answers.at(-1)!, /apply_patch was not applied; nothing was changed/);
    assert.ok(c.agentModel.requests.length - requestsBefore === 4);
    const tools = (c.agentModel.requests.at(-1)!.body['tools'] as { function: { name: string } }[]).map((x) => x.function.name);
    assert.deepEqual(tools, ['shell', 'apply_patch']);

    // What the sandbox holds afterwards: the inside patch, and no file outside.
    const check = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, {
      commands: [{ cmd: 'cat base.txt sub/new.txt; test ! -e /etc/paddock-evil.txt && echo NOT-WRITTEN' }],
    });
    await waitForTurnEnd(c, threadId, check.json.id as string, 60_000);
    const out = (await jsonlEvents(c, ws.owner, threadId)).flatMap((ev) =>
      ev.type === 'item.completed' && ev.turn_id === check.json.id && ev.item.type === 'command_execution' ? [ev.item.aggregated_output] : [],
    );
    assert.equal(out[0], 'one\nTWO\nhello\nNOT-WRITTEN\n');
  });
});
