// The CLI on the routes other areas of issue 18's wave add (GET /v1/threads/{id}/diff, the files
// routes, GET /v1/threads): `apply` reproduces an agent task's changes in a local git repository,
// `diff` prints them, `files put|get` round-trips bytes, `threads` lists, and the approvals inbox
// finds a pending request across threads and denies it; `exec --repo URL@REF --repo-credential` runs
// the task on a private repository (a local git server that needs a token) at a given commit, through
// an environment that names it (reused by the next run), and `apply` in a local clone reproduces it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type GitServer, startGitServer, waitFor } from '@paddock/testing';
import { apiOf, type Cluster, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';
import { runCli } from './support/cli-driver.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;
let ws: { id: string; owner: string };
let env: Record<string, string>;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'paddock-cli-changes-'));
  dirs.push(d);
  return d;
};
const git = (cwd: string, ...args: string[]) => {
  const r = spawnSync('git', ['-c', 'user.email=t@t.test', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

let gitServer: GitServer;
let firstCommit: string;
let sourceRepo: string;
const GIT_TOKEN = `gittok-${process.pid}-${Math.random().toString(36).slice(2)}`;

before(async () => {
  // A repository with two commits, served (bare) by a git server that requires a token.
  const src = (sourceRepo = tempDir());
  git(src, 'init', '-q', '-b', 'main');
  writeFileSync(join(src, 'a.txt'), 'alpha\n');
  git(src, 'add', '-A');
  git(src, 'commit', '-qm', 'first');
  firstCommit = git(src, 'rev-parse', 'HEAD').trim();
  writeFileSync(join(src, 'later.txt'), 'a later commit\n');
  git(src, 'add', '-A');
  git(src, 'commit', '-qm', 'second');
  const served = tempDir();
  git(served, 'clone', '-q', '--bare', src, join(served, 'repo.git'));
  gitServer = await startGitServer(served, { token: GIT_TOKEN });
  c = await startCluster('e2e-cli-changes', {
    worker: {
      env: { PADDOCK_E2E_MODEL_KEY: 'test-key', PADDOCK_E2E_GIT_TOKEN: GIT_TOKEN },
      repositories: {
        hosts: [gitServer.host],
        credentials: { e2e: { env_key: 'PADDOCK_E2E_GIT_TOKEN', hosts: [gitServer.host] } },
        checkoutTimeoutMs: 60_000,
        diffMaxBytes: 256 * 1024,
      },
    },
  });
  call = apiOf(c);
  c.guardianModel.setHandler(() => ({
    kind: 'json',
    value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' },
  }));
  ws = await newWorkspace(c, 'cli-changes');
  const e = await call('POST', '/v1/environments', ws.owner, { name: 'default', image: c.image });
  assert.equal(e.status, 201, JSON.stringify(e.json));
  env = { PADDOCK_URL: c.apiUrl, PADDOCK_TOKEN: ws.owner, PADDOCK_CONFIG_DIR: tempDir(), HOME: tempDir() };
});
after(async () => {
  await c?.close();
  await gitServer?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('changes made by a task, on the local machine', () => {
  test('exec, then diff and apply reproduce the changes in a local git repository', async () => {
    c.agentModel.script(
      { kind: 'tool_call', name: 'shell', arguments: { command: ['bash', '-c', 'mkdir -p src && printf "hello\\n" > hello.txt && printf "x = 1\\n" > src/app.py'] } },
      { kind: 'text', text: 'Wrote two files.' },
    );
    const r = await runCli(['exec', 'write hello.txt and src/app.py'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /changed files \(2\):/);
    assert.match(r.stdout, /A hello\.txt/);

    const diff = await runCli(['diff'], env); // the last thread
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /^\+hello$/m);

    const repo = tempDir();
    git(repo, 'init', '-q');
    writeFileSync(join(repo, 'README'), 'local\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'base');
    const applied = await runCli(['apply'], env, { cwd: repo });
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /applied 2 files/);
    assert.equal(readFileSync(join(repo, 'hello.txt'), 'utf8'), 'hello\n');
    assert.equal(readFileSync(join(repo, 'src', 'app.py'), 'utf8'), 'x = 1\n');
    assert.deepEqual(git(repo, 'status', '--porcelain').trim().split('\n').sort(), ['?? hello.txt', '?? src/']);
    // Outside a git work tree: a usage error naming what to do.
    const outside = await runCli(['apply'], env, { cwd: tempDir() });
    assert.equal(outside.code, 2);
    assert.match(outside.stderr, /not inside a git work tree/);
  });

  test('files put, get, ls, archive get|put, rm -r; threads lists the thread', async () => {
    const r = await runCli(['run', '--', 'true'], env);
    assert.equal(r.code, 0, r.stderr);
    const threadId = /thread (thr_\S+)/.exec(r.stdout)?.[1];
    assert.ok(threadId);
    const local = join(tempDir(), 'data.bin');
    writeFileSync(local, Buffer.from([0, 1, 2, 255, 10]));
    assert.equal((await runCli(['files', 'put', threadId, 'in/data.bin', local], env)).code, 0);
    const out = join(tempDir(), 'back.bin');
    const got = await runCli(['files', 'get', threadId, 'in/data.bin', '-o', out], env);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual([...readFileSync(out)], [0, 1, 2, 255, 10]);
    const ls = await runCli(['files', 'ls', threadId, 'in'], env);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^-\s+5\s+data\.bin$/m);
    // A directory down as a tar and another one up from a tar.
    const tarOut = join(tempDir(), 'in.tar');
    const down = await runCli(['files', 'archive', 'get', threadId, 'in', '-o', tarOut], env);
    assert.equal(down.code, 0, down.stderr);
    assert.match(spawnSync('tar', ['-tf', tarOut], { encoding: 'utf8' }).stdout, /data\.bin/);
    const upDir = tempDir();
    writeFileSync(join(upDir, 'up.txt'), 'from a tar\n');
    const tarIn = join(tempDir(), 'up.tar');
    assert.equal(spawnSync('tar', ['-cf', tarIn, '-C', upDir, 'up.txt']).status, 0);
    const up = await runCli(['files', 'archive', 'put', threadId, tarIn, '--path', 'unpacked'], env);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /unpacked 1 entries/);
    assert.equal((await runCli(['files', 'get', threadId, 'unpacked/up.txt'], env)).stdout, 'from a tar\n');
    assert.equal((await runCli(['files', 'rm', '-r', threadId, 'unpacked'], env)).code, 0);
    assert.doesNotMatch((await runCli(['files', 'ls', threadId], env)).stdout, /unpacked/);
    const list = await runCli(['threads', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.ok((JSON.parse(list.stdout) as { id: string }[]).some((t) => t.id === threadId));
  });

  test('the approvals inbox finds a pending request across threads; deny answers it', async () => {
    const envs = await call('GET', '/v1/environments', ws.owner);
    const t = await call('POST', '/v1/threads', ws.owner, { environment_id: envs.json.items[0].id, config: { approvals_reviewer: 'user' } });
    const turn = await call('POST', `/v1/threads/${t.json.id}/turns`, ws.owner, {
      commands: [{ argv: ['bash', '-c', 'echo no > "$HOME/x.txt"'], escalate: { justification: 'inbox test' } }],
    });
    assert.equal(turn.status, 202);
    let inbox = '';
    await waitFor(
      async () => {
        inbox = (await runCli(['approvals', '--json'], env)).stdout;
        return inbox.includes(t.json.id);
      },
      60_000,
      'the pending approval in the inbox',
    );
    const pending = (JSON.parse(inbox) as { id: string; thread_id: string }[]).find((a) => a.thread_id === t.json.id)!;
    const denied = await runCli(['approvals', 'deny', pending.id], env);
    assert.equal(denied.code, 0, denied.stderr);
    const end = await waitForTurnEnd(c, t.json.id, turn.json.id);
    assert.equal(end.type, 'turn.completed');
    const after = await runCli(['approvals', '--thread', t.json.id], env);
    assert.match(after.stdout, /no pending approval requests/);
  });

  test('exec --repo URL@REF --repo-credential: the task runs on that commit; apply reproduces it in a local clone', async () => {
    const repoUrl = `${gitServer.url}/repo.git`;
    const before = (await call('GET', '/v1/environments?limit=100', ws.owner)).json.items.length as number;
    c.agentModel.script(
      { kind: 'tool_call', name: 'shell', arguments: { command: ['bash', '-c', 'test ! -e later.txt && cat a.txt && printf "beta\\n" >> a.txt'] } },
      { kind: 'text', text: 'Appended beta.' },
    );
    const r = await runCli(['exec', '--repo', `${repoUrl}@${firstCommit}`, '--repo-credential', 'e2e', 'append beta to a.txt'], env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /│ alpha/, 'the workspace is the repository at that commit');
    assert.match(r.stdout, /M a\.txt/);
    assert.ok(gitServer.requests.some((q) => q.authorized && q.path.includes('repo.git')), 'the clone used the named credential');
    const envs = (await call('GET', '/v1/environments?limit=100', ws.owner)).json.items as { id: string; repository?: { url: string; ref?: string; credential?: string } }[];
    assert.equal(envs.length, before + 1, 'one environment names the repository');
    assert.deepEqual(envs.at(-1)!.repository, { url: repoUrl, ref: firstCommit, credential: 'e2e' });

    // A local clone of that commit: apply brings the task's change.
    const local = tempDir();
    git(local, 'clone', '-q', sourceRepo, '.');
    git(local, 'checkout', '-q', firstCommit);
    const applied = await runCli(['apply'], env, { cwd: local });
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(readFileSync(join(local, 'a.txt'), 'utf8'), 'alpha\nbeta\n');

    // The same --repo again reuses that environment; a URL git alone understands is a usage error.
    const again = await runCli(['run', '--repo', `${repoUrl}@${firstCommit}`, '--repo-credential', 'e2e', '--', 'cat', 'a.txt'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /│ alpha/);
    assert.equal((await call('GET', '/v1/environments?limit=100', ws.owner)).json.items.length, before + 1);
    // Without --env, the one the workspace made is still the default (the --repo one stands for it).
    const plain = await runCli(['run', '--', 'bash', '-c', 'test ! -e a.txt && echo plain-default'], env);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /│ plain-default/);
    const ssh = await runCli(['exec', '--repo', 'git@github.com:org/repo.git', 'x'], env);
    assert.equal(ssh.code, 2);
    assert.match(ssh.stderr, /https:\/\/ clone URL/);
  });
});
