// Exec and files through the in-sandbox agent, against a real container.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { PaddockError } from '@paddock/platform';
import type { Sandbox } from '../src/sandbox.ts';
import { WorkspaceGit } from '../src/changes/workspace-git.ts';
import { cleanup, fixture, sh } from './helpers.ts';

let s: Sandbox;
after(cleanup);
before(async () => {
  const fx = await fixture('sbx-exec');
  s = await fx.sandbox();
});

describe('exec', () => {
  test('runs with cwd, env and stdin; reports the exit code', async () => {
    await s.exec({ argv: ['mkdir', '-p', 'sub'], mode: 'workspace-write' });
    const r = await s.exec({
      argv: sh('pwd; echo "$FOO"; cat; echo oops >&2; exit 3'),
      cwd: '/workspace/sub',
      env: { FOO: 'bar' },
      stdin: 'piped\n',
      mode: 'read-only',
    });
    assert.equal(r.stdout.text, '/workspace/sub\nbar\npiped\n');
    assert.equal(r.stderr.text, 'oops\n');
    assert.equal(r.exitCode, 3);
    assert.equal(r.signal, null);
    assert.equal(r.timedOut, false);
  });

  test('reports the signal that ended the command', async () => {
    const r = await s.exec({ argv: sh('kill -TERM $$'), mode: 'read-only' });
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGTERM');
  });

  test('streams output chunks as they come, before the command ends', async () => {
    let settled = false;
    const chunks: { text: string; settledThen: boolean }[] = [];
    const running = s.exec(
      { argv: sh('echo first; sleep 1; echo second'), mode: 'read-only' },
      { onChunk: (c) => chunks.push({ text: c.data.toString(), settledThen: settled }) },
    );
    const r = await running.finally(() => {
      settled = true;
    });
    assert.deepEqual(
      chunks.map((c) => c.text),
      ['first\n', 'second\n'],
    );
    assert.equal(chunks[0]!.settledThen, false);
    assert.equal(r.stdout.text, 'first\nsecond\n');
  });

  test('a timeout kills the whole process group', async () => {
    const r = await s.exec({ argv: sh('sleep 31 & sleep 32 | cat; wait'), mode: 'read-only', timeoutMs: 500 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
    const ps = await s.exec({ argv: ['ps', '-eo', 'args='], mode: 'read-only' });
    assert.doesNotMatch(ps.stdout.text, /sleep 3[12]/);
  });

  test('caps output in the middle: head and tail kept, the omitted size stated', async () => {
    const r = await s.exec({ argv: ['seq', '1', '100000'], mode: 'read-only', maxOutputBytes: 1000 });
    const full = spawnSync('seq', ['1', '100000']).stdout as Buffer;
    assert.equal(r.stdout.totalBytes, full.length);
    assert.equal(r.stdout.omittedBytes, full.length - 1000);
    assert.equal(
      r.stdout.text,
      `${full.subarray(0, 500).toString()}\n[... ${full.length - 1000} bytes omitted ...]\n${full.subarray(full.length - 500).toString()}`,
    );
  });

  test('escalated may write the home directory; workspace-write may not', async () => {
    const ws = await s.exec({ argv: sh('touch /home/sandbox/x'), mode: 'workspace-write' });
    assert.equal(ws.exitCode, 1);
    assert.match(ws.stderr.text, /Permission denied/);
    const esc = await s.exec({ argv: sh('touch /home/sandbox/x && echo ok'), mode: 'escalated' });
    assert.equal(esc.stdout.text, 'ok\n');
  });

  test('a command cannot signal the agent (Landlock scoping), even in escalated mode', async () => {
    const agent = await s.agent();
    const r = await s.exec({ argv: sh(`kill -9 ${agent.pid}; kill -9 -1; echo "rc=$?"`), mode: 'escalated' });
    assert.match(r.stderr.text, /Operation not permitted/);
    assert.equal((await s.agent()).pid, agent.pid);
    assert.equal(agent.alive, true);
  });

  test('a command that does not exist exits 127', async () => {
    const r = await s.exec({ argv: ['no-such-command-here'], mode: 'read-only' });
    assert.equal(r.exitCode, 127);
    assert.match(r.stderr.text, /No such file or directory/);
  });
});

describe('change tracking on the sandbox clock', () => {
  test('each snapshot says when it began on the clock that stamps the files; the change check reads that clock', async () => {
    const git = new WorkspaceGit((req) => s.exec(req), { bigFileBytes: 1024, changedSince: (ms) => s.workTreeChangedSince(ms) });
    await git.beginTurn('turn-first'); // makes the repository (the work tree's root changes)
    await s.exec({ argv: sh('sleep 0.2'), mode: 'workspace-write' });
    const begun = await git.beginTurn('turn-clock');
    assert.ok(begun.atMs !== undefined, 'bash in the image tells the time without a process');
    assert.ok(Math.abs(begun.atMs - Date.now()) < 5_000, `one kernel, one clock: ${begun.atMs} vs ${Date.now()}`);
    assert.equal(await git.changedSince(begun.atMs - 50), false, 'nothing changed since the turn start began');
    await s.exec({ argv: sh('sleep 0.2; printf x > clock.txt; sleep 0.2'), mode: 'workspace-write' });
    assert.equal(await git.changedSince(begun.atMs - 50), true, 'a write after the snapshot began is a change');
    const snap = await git.snapshotSince(begun.startTree);
    assert.deepEqual(snap.changes, [{ path: 'clock.txt', kind: 'add' }]);
    assert.ok(snap.atMs !== undefined && snap.atMs >= begun.atMs + 300, `${snap.atMs} after ${begun.atMs}`);
    assert.equal(await git.changedSince(snap.atMs - 50), false, 'nothing since the second snapshot began');
  });
});

describe('files', () => {
  test('write, read, list, delete and tar a directory on the read-only root filesystem', async () => {
    await s.writeFile('proj/src/a.txt', 'alpha');
    await s.writeFile('proj/b.bin', new Uint8Array([0, 1, 2, 255]));
    assert.equal(String(await s.readFile('proj/src/a.txt')), 'alpha');
    assert.deepEqual([...(await s.readFile('proj/b.bin'))], [0, 1, 2, 255]);
    const entries = await s.listDir('proj');
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.size]).sort(),
      [
        ['b.bin', 'file', 4],
        ['src', 'dir', entries.find((e) => e.name === 'src')!.size],
      ],
    );
    const tar = await s.tarDir('proj');
    const listing = spawnSync('tar', ['-tf', '-'], { input: tar }).stdout.toString().split('\n').filter(Boolean).sort();
    assert.deepEqual(listing, ['./', './b.bin', './src/', './src/a.txt']);
    await s.deletePath('proj/b.bin');
    await assert.rejects(s.readFile('proj/b.bin'), (e: PaddockError) => e.code === 'not_found' && e.statusCode === 404);
    await s.deletePath('proj', true);
    assert.deepEqual(
      (await s.listDir('.')).filter((e) => e.name === 'proj'),
      [],
    );
  });

  test('paths cannot leave the workspace, through .. or a symlink', async () => {
    await assert.rejects(s.readFile('../etc/passwd'), (e: PaddockError) => e.code === 'bad_path' && e.statusCode === 400);
    await s.exec({ argv: ['ln', '-sfn', '/etc', '/workspace/etc-link'], mode: 'workspace-write' });
    await assert.rejects(s.readFile('etc-link/passwd'), (e: PaddockError) => e.code === 'bad_path');
    await assert.rejects(s.writeFile('etc-link/evil', 'x'), (e: PaddockError) => e.code === 'bad_path');
    await assert.rejects(s.tarDir('../'), (e: PaddockError) => e.code === 'bad_path');
  });
});
