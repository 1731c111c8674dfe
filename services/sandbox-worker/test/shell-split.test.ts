// The shell splitter (tree-sitter-bash) and the exec unwrapper: which scripts are plain, which words
// are literal, and which commands a wrapped or nested argv would really run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyzeExec, programName } from '../src/command-policy/command-unwrap.ts';
import { MAX_SCRIPT_CHARS, splitShellScript } from '../src/command-policy/shell-split.ts';

describe('splitShellScript: plain scripts', () => {
  const cases: [string, (string | null)[][]][] = [
    ['ls -1', [['ls', '-1']]],
    ['ls && pwd; echo "hi there" | wc -l', [['ls'], ['pwd'], ['echo', 'hi there'], ['wc', '-l']]],
    ['false || true', [['false'], ['true']]],
    ['ls\npwd', [['ls'], ['pwd']]],
    ["echo 'a b' \"c d\"", [['echo', 'a b', 'c d']]],
    ['echo 123 456', [['echo', '123', '456']]],
    ['gi\\t push', [['git', 'push']]],
    ['git pu""sh', [['git', 'push']]],
    ["git 'pu'sh", [['git', 'push']]],
    ['echo "a\\"b"', [['echo', 'a"b']]],
    ["echo '$HOME'", [['echo', '$HOME']]],
    ['rg -n "fn main" src', [['rg', '-n', 'fn main', 'src']]],
  ];
  for (const [script, commands] of cases) {
    test(JSON.stringify(script), () => {
      assert.deepEqual(splitShellScript(script), { commands, plain: true });
    });
  }
});

describe('splitShellScript: not plain, and every command inside still found', () => {
  const cases: [string, (string | null)[][]][] = [
    ['(ls)', [['ls']]],
    ['ls || (pwd && echo hi)', [['ls'], ['pwd'], ['echo', 'hi']]],
    ['echo hi > f', [['echo', 'hi']]],
    ['cat < f', [['cat']]],
    ['cat <<EOF\nx\nEOF', [['cat']]],
    ['cat <<< x', [['cat']]],
    ['echo $(git push)', [['echo', null], ['git', 'push']]],
    ['echo `git push`', [['echo', null], ['git', 'push']]],
    ['x=$(git push)', [['git', 'push']]],
    ['A=1 git push', [['git', 'push']]],
    ['$X push', [[null, 'push']]],
    ['"$HOME/bin/git" push', [[null, 'push']]],
    ['echo "$HOME"', [['echo', null]]],
    ["echo $'\\x41'", [['echo', null]]],
    ['f() { git push; }', [['git', 'push']]],
    ['if true; then git push; fi', [['true'], ['git', 'push']]],
    ['for x in a; do git push; done', [['git', 'push']]],
    ['while false; do git push; done', [['false'], ['git', 'push']]],
    ['! git push', [['git', 'push']]],
    ['git push &', [['git', 'push']]],
    ['ls *.ts', [['ls', null]]],
    ['ls file?', [['ls', null]]],
    ['git {push,x}', [['git', null]]],
    ['ls # a comment', [['ls']]],
    ['diff <(ls a) <(ls b)', [['diff', null, null], ['ls', 'a'], ['ls', 'b']]],
    ['export A=$(git push)', [['git', 'push']]],
    ['[[ -f x ]] && git push', [['git', 'push']]],
  ];
  for (const [script, commands] of cases) {
    test(JSON.stringify(script), () => {
      assert.deepEqual(splitShellScript(script), { commands, plain: false });
    });
  }

  test('syntax errors, empty and oversized scripts are not plain', () => {
    assert.equal(splitShellScript('ls )').plain, false);
    assert.equal(splitShellScript('echo "unterminated').plain, false);
    assert.deepEqual(splitShellScript(''), { commands: [], plain: false });
    assert.deepEqual(splitShellScript(`echo ${'a'.repeat(MAX_SCRIPT_CHARS)}`), { commands: [], plain: false });
  });
});

describe('analyzeExec: shells, wrappers, paths', () => {
  const gitPush = ['git', 'push'];

  test('a shell -c script is split into the commands it runs', () => {
    for (const argv of [
      ['bash', '-lc', 'git push'],
      ['bash', '-c', 'git push'],
      ['sh', '-c', 'git push'],
      ['zsh', '-lc', 'git push'],
      ['/bin/bash', '-c', 'git push'],
      ['bash', '-l', '-c', 'git push'],
      ['bash', '--login', '-c', 'git push'],
      ['bash', '-e', '-c', 'git push'],
      ['bash', '-c', 'bash -c "git push"'],
    ]) {
      const a = analyzeExec(argv);
      assert.deepEqual(a.leaves, [gitPush], argv.join(' '));
      assert.equal(a.plain, true, argv.join(' '));
      assert.ok(a.seen.some((w) => JSON.stringify(w) === JSON.stringify(gitPush)));
    }
    assert.deepEqual(analyzeExec(['bash', '-lc', 'ls | wc -l; pwd']).leaves, [['ls'], ['wc', '-l'], ['pwd']]);
  });

  test('a shell whose script cannot be seen, or is given oddly, is not plain and could run anything', () => {
    for (const argv of [
      ['bash', 'script.sh'],
      ['bash'],
      ['bash', '-s'],
      ['bash', '-i', '-c', 'ls'],
      ['bash', '--rcfile', 'x', '-c', 'ls'],
      ['bash', '-c', 'ls "$0"', 'x'],
      ['eval', '$X'],
      ['source', 'x.sh'],
      ['.', 'x.sh'],
    ]) {
      const a = analyzeExec(argv);
      assert.equal(a.plain, false, argv.join(' '));
    }
    assert.ok(analyzeExec(['bash', 'script.sh']).seen.some((w) => w.length === 1 && w[0] === null));
    assert.ok(analyzeExec(['eval', 'git push']).seen.some((w) => JSON.stringify(w) === JSON.stringify(gitPush)));
  });

  test('pure wrappers are seen through and stay plain', () => {
    for (const argv of [
      ['command', 'git', 'push'],
      ['command', '-p', 'git', 'push'],
      ['nice', 'git', 'push'],
      ['nice', '-n', '5', 'git', 'push'],
      ['nice', '-n5', 'git', 'push'],
      ['nice', '-5', 'git', 'push'],
      ['nice', '--adjustment=5', 'git', 'push'],
      ['timeout', '5', 'git', 'push'],
      ['timeout', '-s', 'KILL', '-k', '1', '5s', 'git', 'push'],
      ['timeout', '--preserve-status', '5', 'git', 'push'],
      ['time', 'git', 'push'],
      ['time', '-p', 'git', 'push'],
      ['exec', 'git', 'push'],
      ['exec', '-a', 'name', 'git', 'push'],
      ['builtin', 'git', 'push'],
      ['nice', 'timeout', '5', 'command', 'git', 'push'],
      ['bash', '-c', 'timeout 5 git push'],
    ]) {
      const a = analyzeExec(argv);
      assert.deepEqual([a.leaves, a.plain], [[gitPush], true], argv.join(' '));
    }
  });

  test('other wrappers are seen through for matching but are never plain', () => {
    for (const argv of [
      ['env', 'A=1', 'git', 'push'],
      ['env', '-i', 'git', 'push'],
      ['env', '-u', 'HOME', 'git', 'push'],
      ['env', 'git', 'push'],
      ['nohup', 'git', 'push'],
      ['xargs', 'git', 'push'],
      ['xargs', '-n', '1', '-I', '{}', 'git', 'push'],
      ['stdbuf', '-o', 'L', 'git', 'push'],
      ['setsid', 'git', 'push'],
      ['sudo', '-u', 'root', 'git', 'push'],
      ['time', '-o', 'out', 'git', 'push'],
      ['timeout', '--unknown-flag', '5', 'git', 'push'],
      ['busybox', 'sh', '-c', 'git push'],
      ['bash', '-c', 'A=1 git push'],
      ['./git', 'push'],
      ['/workspace/bin/git', 'push'],
      ['bin/git', 'push'],
      ['find', '.', '-exec', 'git', 'push', ';'],
      ['env', '-S', 'git push'],
    ]) {
      const a = analyzeExec(argv);
      assert.equal(a.plain, false, argv.join(' '));
      assert.ok(
        a.seen.some((w) => w[0] === 'git' && w[1] === 'push'),
        `${argv.join(' ')}: ${JSON.stringify(a.seen)}`,
      );
    }
  });

  test('program names: system paths are the program, others are not trusted as it', () => {
    assert.deepEqual(programName('git'), { name: 'git', systemPath: true });
    assert.deepEqual(programName('/usr/bin/git'), { name: 'git', systemPath: true });
    assert.deepEqual(programName('/usr/local/bin/git'), { name: 'git', systemPath: true });
    assert.deepEqual(programName('./git'), { name: 'git', systemPath: false });
    assert.deepEqual(programName('/tmp/git'), { name: 'git', systemPath: false });
    const a = analyzeExec(['/usr/bin/git', 'push']);
    assert.deepEqual([a.leaves, a.plain], [[gitPush], true]);
  });

  test('nesting is bounded: past the limit nothing is plain', () => {
    let script = 'git push';
    for (let i = 0; i < 10; i++) script = `bash -c ${JSON.stringify(script)}`;
    assert.equal(analyzeExec(['bash', '-c', script]).plain, false);
  });

  test('xargs without a command runs echo; find without -exec is a leaf of its own', () => {
    assert.deepEqual(analyzeExec(['xargs']).leaves, [['echo']]);
    assert.deepEqual(analyzeExec(['find', '.', '-name', '*.ts']), {
      seen: [['find', '.', '-name', '*.ts']],
      leaves: [['find', '.', '-name', '*.ts']],
      plain: true,
    });
  });
});
