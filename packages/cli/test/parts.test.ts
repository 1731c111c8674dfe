// The CLI's pure parts: -c overrides, --repo URL[@REF], changed files from a diff, the plain (non-TTY)
// rendering of a turn, and the config file's 0600 mode.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configPath, readConfig, writeConfig } from '../src/config.ts';
import { configOverrides, parseRepo, repositoryOption } from '../src/exec.ts';
import { changedFilesOf, TurnRenderer } from '../src/render.ts';

test('-c key=value: dotted keys nest, JSON values parse, other values stay strings', () => {
  assert.deepEqual(configOverrides(['approval_policy=never', 'network.mode=allowlist', 'network.allowed_ports=[443]', 'x=1']), {
    approval_policy: 'never',
    network: { mode: 'allowlist', allowed_ports: [443] },
    x: 1,
  });
  assert.throws(() => configOverrides(['novalue']), /expected key=value/);
});

test('--repo URL[@REF]', () => {
  assert.deepEqual(parseRepo('https://github.com/a/b.git@main'), { url: 'https://github.com/a/b.git', ref: 'main' });
  assert.deepEqual(parseRepo('https://github.com/a/b.git'), { url: 'https://github.com/a/b.git' });
  assert.deepEqual(parseRepo('git@github.com:a/b.git'), { url: 'git@github.com:a/b.git' });
  assert.deepEqual(parseRepo('git@github.com:a/b.git@v1.2'), { url: 'git@github.com:a/b.git', ref: 'v1.2' });
});

test('--repo as the API takes it: http(s), no user or password, the credential by name', () => {
  assert.deepEqual(repositoryOption('https://git.example/a/b.git@v1', 'gh'), { url: 'https://git.example/a/b.git', ref: 'v1', credential: 'gh' });
  assert.deepEqual(repositoryOption('http://127.0.0.1:9/r.git'), { url: 'http://127.0.0.1:9/r.git' });
  assert.throws(() => repositoryOption('git@github.com:a/b.git'), /https:\/\/ clone URL/);
  assert.throws(() => repositoryOption('https://me:secret@git.example/a.git'), /no user or password/);
});

test('changed files from a unified diff', () => {
  const diff = [
    'diff --git a/hello.txt b/hello.txt',
    'new file mode 100644',
    '--- /dev/null',
    '+++ b/hello.txt',
    'diff --git a/src/app.py b/src/app.py',
    '--- a/src/app.py',
    '+++ b/src/app.py',
    'diff --git a/old.txt b/old.txt',
    'deleted file mode 100644',
  ].join('\n');
  assert.deepEqual(changedFilesOf(diff), ['A hello.txt', 'M src/app.py', 'D old.txt']);
});

test('plain rendering: the command, its output tail, review, message, summary; the outcome', () => {
  let out = '';
  const r = new TurnRenderer({ write: (s) => (out += s), tty: false });
  r.event({ type: 'turn.started', turn_id: 't' });
  const item = { id: 'i', type: 'command_execution' as const, command: 'seq 1 9', aggregated_output: '', exit_code: null, status: 'in_progress' as const };
  r.event({ type: 'item.started', turn_id: 't', item });
  r.event({ type: 'item.completed', turn_id: 't', item: { ...item, aggregated_output: '1\n2\n3\n4\n5\n6\n7\n8\n9\n', exit_code: 0, status: 'completed' } });
  r.event({ type: 'item.completed', turn_id: 't', item: { id: 'r', type: 'review', review_id: 'x', outcome: 'deny', risk_level: 'high', rationale: 'not needed' } });
  r.event({ type: 'item.completed', turn_id: 't', item: { id: 'm', type: 'agent_message', text: 'Done.' } });
  const outcome = r.event({ type: 'turn.completed', turn_id: 't', usage: { input_tokens: 5, output_tokens: 2 } });
  assert.deepEqual(outcome, { status: 'completed', usage: { input_tokens: 5, output_tokens: 2 }, commands: 1 });
  r.summary(outcome!, ['A hello.txt']);
  assert.doesNotMatch(out, /\x1b\[/, 'no ANSI when not a terminal');
  assert.match(out, /^\$ seq 1 9$/m);
  assert.match(out, /✓ \$ seq 1 9 \(exit 0\)\n {2}│ 5\n(?: {2}│ \d\n){3} {2}│ 9\n/);
  assert.doesNotMatch(out, /│ 4\n/, 'the tail only');
  assert.match(out, /◆ review deny risk high: not needed/);
  assert.match(out, /» Done\./);
  assert.match(out, /✓ turn completed · 5 in \/ 2 out tokens · 1 command\nchanged files \(1\):\n {2}A hello\.txt\n$/);
});

test('the config file is written 0600 and read back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-cfg-'));
  try {
    const env = { PADDOCK_CONFIG_DIR: join(dir, 'p') };
    writeConfig({ url: 'http://x', token: 't' }, env);
    writeConfig({ environment: 'env_1' }, env);
    assert.equal(statSync(configPath(env)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'p')).mode & 0o777, 0o700);
    assert.deepEqual(readConfig(env), { url: 'http://x', token: 't', environment: 'env_1' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
