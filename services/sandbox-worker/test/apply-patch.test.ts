// Codex's apply_patch format: parsing (add, delete, update with a move, @@ hunks, end of file) and
// applying hunks (exact and whitespace-tolerant matching; a hunk not found fails), and the
// repository policy (hosts, refs and credentials by name).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyHunks, parsePatch, PatchError, pathsOf } from '../src/changes/apply-patch.ts';
import { parseNameStatus } from '../src/changes/workspace-git.ts';
import { planCheckout, RepositoryRefused } from '../src/repo/repo-policy.ts';

describe('apply_patch: parsing', () => {
  test('add, delete and update with a move and two hunks', () => {
    const ops = parsePatch(
      [
        '*** Begin Patch',
        '*** Add File: src/new.txt',
        '+hello',
        '+world',
        '*** Delete File: old.txt',
        '*** Update File: a.py',
        '*** Move to: b.py',
        '@@ def f():',
        '-    return 1',
        '+    return 2',
        '@@',
        ' x = 1',
        '-y = 2',
        '+y = 3',
        '*** End of File',
        '*** End Patch',
      ].join('\n'),
    );
    assert.deepEqual(ops, [
      { kind: 'add', path: 'src/new.txt', content: 'hello\nworld\n' },
      { kind: 'delete', path: 'old.txt' },
      {
        kind: 'update',
        path: 'a.py',
        moveTo: 'b.py',
        hunks: [
          { context: 'def f():', oldLines: ['    return 1'], newLines: ['    return 2'], endOfFile: false },
          { oldLines: ['x = 1', 'y = 2'], newLines: ['x = 1', 'y = 3'], endOfFile: true },
        ],
      },
    ]);
    assert.deepEqual(pathsOf(ops), ['src/new.txt', 'old.txt', 'a.py', 'b.py']);
  });

  test('malformed patches are refused, naming what is wrong', () => {
    assert.throws(() => parsePatch('*** Update File: a\n@@\n-x\n*** End Patch'), /first line/);
    assert.throws(() => parsePatch('*** Begin Patch\n*** Add File: a\n+x'), /last line/);
    assert.throws(() => parsePatch('*** Begin Patch\n*** Frob File: a\n*** End Patch'), PatchError);
    assert.throws(() => parsePatch('*** Begin Patch\n*** Update File: a\n@@\n?x\n*** End Patch'), /must start with/);
    assert.throws(() => parsePatch('*** Begin Patch\n*** End Patch'), /no file/);
  });
});

describe('apply_patch: applying hunks', () => {
  const file = 'def f():\n    return 1\n\ndef g():\n    return 1\n';
  test('the context line picks the occurrence; later hunks search after earlier ones', () => {
    const [op] = parsePatch('*** Begin Patch\n*** Update File: m.py\n@@ def g():\n-    return 1\n+    return 7\n*** End Patch');
    assert.ok(op?.kind === 'update');
    assert.equal(applyHunks(file, op.hunks, 'm.py'), 'def f():\n    return 1\n\ndef g():\n    return 7\n');
  });

  test('trailing whitespace differences still match; missing lines fail the patch', () => {
    assert.equal(
      applyHunks('a  \nb\n', [{ oldLines: ['a', 'b'], newLines: ['a', 'B'], endOfFile: false }], 'x'),
      'a\nB\n',
    );
    assert.throws(() => applyHunks(file, [{ oldLines: ['nope'], newLines: ['x'], endOfFile: false }], 'm.py'), /not in the file/);
  });

  test('end of file anchors the hunk at the end', () => {
    assert.equal(
      applyHunks('x\ny\nx\n', [{ oldLines: ['x'], newLines: ['z'], endOfFile: true }], 'f'),
      'x\ny\nz\n',
    );
  });
});

describe('changes and repository policy', () => {
  test('git name-status output becomes add/update/delete changes', () => {
    assert.deepEqual(parseNameStatus('M\0a.txt\0A\0dir/new file\0D\0gone\0T\0link\0'), [
      { path: 'a.txt', kind: 'update' },
      { path: 'dir/new file', kind: 'add' },
      { path: 'gone', kind: 'delete' },
      { path: 'link', kind: 'update' },
    ]);
  });

  const settings = {
    hosts: ['git.example.com', '127.0.0.1:8080'],
    credentials: { ci: { env_key: 'CI_TOKEN', hosts: ['git.example.com'] } },
    checkoutTimeoutMs: 1000,
    diffMaxBytes: 4096,
  };
  test('a listed host, a ref, a credential by name: the token becomes a header value only', () => {
    const plan = planCheckout({ url: 'https://git.example.com/a/b.git', ref: 'main', credential: 'ci' }, settings, { CI_TOKEN: 's3cret' });
    assert.deepEqual(plan, {
      url: 'https://git.example.com/a/b.git',
      host: 'git.example.com',
      ref: 'main',
      authorization: `Basic ${Buffer.from('x-access-token:s3cret').toString('base64')}`,
    });
    assert.equal(planCheckout({ url: 'http://127.0.0.1:8080/r.git' }, settings, {}).ref, 'HEAD');
  });

  test('refused: other hosts and schemes, user info, option-like refs, unknown or misplaced credentials', () => {
    const refused = (spec: Parameters<typeof planCheckout>[0], re: RegExp, env: NodeJS.ProcessEnv = { CI_TOKEN: 't' }) =>
      assert.throws(() => planCheckout(spec, settings, env), (e: Error) => e instanceof RepositoryRefused && re.test(e.message));
    refused({ url: 'https://evil.example/x.git' }, /not one of the cluster's repository hosts/);
    refused({ url: 'file:///etc/x' }, /must be https/);
    refused({ url: 'ext::sh -c id' }, /not a URL|must be https/);
    refused({ url: 'https://u:p@git.example.com/x.git' }, /user or password/);
    refused({ url: 'https://git.example.com/x.git', ref: '--upload-pack=touch /tmp/x' }, /not a branch/);
    refused({ url: 'https://git.example.com/x.git', ref: 'a..b' }, /not a branch/);
    refused({ url: 'https://git.example.com/x.git', credential: '__proto__' }, /not one of the cluster's repository credentials/);
    refused({ url: 'http://127.0.0.1:8080/x.git', credential: 'ci' }, /may not be sent to 127.0.0.1:8080/);
    refused({ url: 'https://git.example.com/x.git', credential: 'ci' }, /not configured on this worker/, {});
  });
});
