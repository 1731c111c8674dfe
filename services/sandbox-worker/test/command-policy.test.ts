import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { actionHash } from '@paddock/contracts';
import { checkSetupScript, type ClassifyContext, classifyExec } from '../src/command-policy/classify.ts';
import { DenialBreaker } from '../src/command-policy/denial-breaker.ts';
import { isTrustedCommand } from '../src/command-policy/trusted-commands.ts';
import { reviewMessage } from '../src/command-policy/model-messages.ts';
import { strictestRule } from '../src/command-policy/prefix-rules.ts';

const ctx = (over: Partial<ClassifyContext> = {}): ClassifyContext => ({
  sandbox_mode: 'workspace-write',
  approval_policy: 'on-request',
  approvals_reviewer: 'auto_review',
  rules: [],
  ...over,
});

describe('prefix rules', () => {
  const rules = [
    { pattern: ['git'], decision: 'allow' as const },
    { pattern: ['git', 'push'], decision: 'prompt' as const },
    { pattern: ['git', 'push', '--force'], decision: 'forbidden' as const },
  ];
  test('the strictest matching rule wins, whatever the order', () => {
    assert.equal(strictestRule(['git', 'status'], rules)?.decision, 'allow');
    assert.equal(strictestRule(['git', 'push', 'origin'], rules)?.decision, 'prompt');
    assert.equal(
      strictestRule(['git', 'push', '--force', 'origin'], [...rules].reverse())?.decision,
      'forbidden',
    );
    assert.equal(strictestRule(['gitx'], rules), undefined);
    assert.equal(strictestRule(['ls'], rules), undefined);
  });
});

describe('classification', () => {
  test('forbidden never runs and is never reviewed, under every policy', () => {
    for (const approval_policy of ['untrusted', 'on-request', 'never'] as const) {
      const c = classifyExec(
        { argv: ['rm', '-rf', '/'], cwd: '/workspace' },
        ctx({ approval_policy, rules: [{ pattern: ['rm'], decision: 'forbidden' }] }),
      );
      assert.equal(c.kind, 'reject');
      assert.ok(c.kind === 'reject' && c.code === 'forbidden_by_rule');
    }
  });

  test("allow runs, escalation included, whoever's rule it is (Codex's execpolicy), within allowed_sandbox_modes; prompt goes to the reviewer", () => {
    const escalated = { argv: ['npm', 'test'], cwd: '/workspace', escalate: { justification: 'needs network' } };
    for (const source of ['cluster', 'requirements', 'environment', 'thread', 'turn', undefined] as const) {
      const allowed = classifyExec(
        escalated,
        ctx({ rules: [{ pattern: ['npm', 'test'], decision: 'allow', ...(source ? { source } : {}) }] }),
      );
      assert.deepEqual([allowed.kind, allowed.kind === 'run' && allowed.sandbox_mode], ['run', 'danger-full-access'], String(source));
    }
    const capped = classifyExec(
      escalated,
      ctx({ allowed_sandbox_modes: ['read-only', 'workspace-write'], rules: [{ pattern: ['npm', 'test'], decision: 'allow', source: 'thread' }] }),
    );
    assert.deepEqual([capped.kind, capped.kind === 'reject' && capped.code], ['reject', 'not_allowed_by_requirements']);
    const partly = classifyExec(
      { argv: ['bash', '-c', 'npm test && curl x'], cwd: '/workspace', escalate: { justification: 'both' } },
      ctx({ rules: [{ pattern: ['npm', 'test'], decision: 'allow', source: 'thread' }] }),
    );
    assert.equal(partly.kind, 'review', 'a rule that covers only part of the command does not skip review');
    const inSandbox = classifyExec(
      { argv: ['npm', 'test'], cwd: '/workspace' },
      ctx({ approval_policy: 'untrusted', rules: [{ pattern: ['npm', 'test'], decision: 'allow', source: 'thread' }] }),
    );
    assert.equal(inSandbox.kind, 'run');
    const prompted = classifyExec(
      { argv: ['ls'], cwd: '/workspace' },
      ctx({ rules: [{ pattern: ['ls'], decision: 'prompt' }] }),
    );
    assert.equal(prompted.kind, 'review');
  });

  test('routing as Codex: under untrusted the user reviews even with auto_review; on-request goes to the guardian', () => {
    const esc = { argv: ['apt-get', 'install', 'x'], cwd: '/', escalate: { justification: 'install deps' } };
    const untrusted = classifyExec(esc, ctx({ approval_policy: 'untrusted', approvals_reviewer: 'auto_review' }));
    assert.ok(untrusted.kind === 'review');
    assert.equal(untrusted.reviewer, 'user');
    const onRequest = classifyExec(esc, ctx({ approval_policy: 'on-request', approvals_reviewer: 'auto_review' }));
    assert.ok(onRequest.kind === 'review');
    assert.equal(onRequest.reviewer, 'auto_review');
    const untrustedCmd = classifyExec({ argv: ['make'], cwd: '/workspace' }, ctx({ approval_policy: 'untrusted', approvals_reviewer: 'auto_review' }));
    assert.ok(untrustedCmd.kind === 'review');
    assert.equal(untrustedCmd.reviewer, 'user');
  });

  test('on-request: a plain command runs in the sandbox, an escalation is reviewed by the configured reviewer', () => {
    assert.equal(classifyExec({ argv: ['make'], cwd: '/workspace' }, ctx()).kind, 'run');
    const esc = classifyExec(
      { argv: ['apt-get', 'install', 'x'], cwd: '/', escalate: { justification: 'install deps' } },
      ctx({ approvals_reviewer: 'user' }),
    );
    assert.ok(esc.kind === 'review');
    assert.equal(esc.reviewer, 'user');
    assert.equal(esc.escalated_mode, 'danger-full-access');
    assert.match(esc.reason, /install deps/);
  });

  test('untrusted: trusted commands run, others are reviewed', () => {
    assert.equal(
      classifyExec({ argv: ['ls', '-la'], cwd: '/workspace' }, ctx({ approval_policy: 'untrusted' })).kind,
      'run',
    );
    assert.equal(
      classifyExec({ argv: ['python3', 'x.py'], cwd: '/workspace' }, ctx({ approval_policy: 'untrusted' }))
        .kind,
      'review',
    );
  });

  test('never: what needs approval is rejected without review', () => {
    const c = classifyExec(
      { argv: ['curl', 'x'], cwd: '/', escalate: { justification: 'fetch' } },
      ctx({ approval_policy: 'never' }),
    );
    assert.ok(c.kind === 'reject');
    assert.equal(c.code, 'approval_never');
    const prompted = classifyExec(
      { argv: ['ls'], cwd: '/' },
      ctx({ approval_policy: 'never', rules: [{ pattern: ['ls'], decision: 'prompt' }] }),
    );
    assert.equal(prompted.kind, 'reject');
    assert.equal(classifyExec({ argv: ['make'], cwd: '/' }, ctx({ approval_policy: 'never' })).kind, 'run');
  });

  test('danger-full-access needs no escalation', () => {
    const c = classifyExec(
      { argv: ['x'], cwd: '/', escalate: { justification: 'j' } },
      ctx({ sandbox_mode: 'danger-full-access' }),
    );
    assert.equal(c.kind, 'run');
  });
});

describe('trusted commands', () => {
  test('reading commands are trusted; flags that execute or write are not', () => {
    for (const argv of [
      ['ls'],
      ['cat', 'a'],
      ['find', '.', '-name', '*.ts'],
      ['sed', '-n', '1,20p', 'f'],
      ['rg', 'x'],
    ]) {
      assert.ok(isTrustedCommand(argv), argv.join(' '));
    }
    for (const argv of [
      ['rm', 'x'],
      ['find', '.', '-delete'],
      ['find', '.', '-exec', 'sh', ';'],
      ['git', 'status'],
      ['git', 'log', '-n', '3'],
      ['git', 'push'],
      ['git', '-c', 'core.pager=sh', 'log'],
      ['git', 'branch', '-D', 'x'],
      ['sed', '-i', 's/a/b/', 'f'],
      ['rg', '--pre', 'sh', 'x'],
      ['sort', '-o', 'f'],
      [],
    ]) {
      assert.ok(!isTrustedCommand(argv), argv.join(' '));
    }
  });
});

describe('rules through shells and wrappers', () => {
  const exec = (argv: string[], over: Partial<ClassifyContext> = {}, escalate = false) =>
    classifyExec({ argv, cwd: '/workspace', ...(escalate ? { escalate: { justification: 'j' } } : {}) }, ctx(over));
  const forbidPush = { rules: [{ pattern: ['git', 'push'], decision: 'forbidden' as const }] };

  test('a forbidden command is forbidden however it is wrapped or buried in a script', () => {
    for (const argv of [
      ['git', 'push'],
      ['bash', '-lc', 'git push'],
      ['sh', '-c', 'git push origin main'],
      ['/usr/bin/git', 'push'],
      ['./git', 'push'],
      ['env', 'A=1', 'git', 'push'],
      ['command', 'git', 'push'],
      ['nice', '-n', '5', 'git', 'push'],
      ['timeout', '5', 'git', 'push'],
      ['nohup', 'git', 'push'],
      ['time', 'git', 'push'],
      ['exec', 'git', 'push'],
      ['xargs', 'git', 'push'],
      ['bash', '-c', 'ls && git push'],
      ['bash', '-c', 'false || git push'],
      ['bash', '-c', 'ls; git push'],
      ['bash', '-c', 'ls | git push'],
      ['bash', '-c', 'echo $(git push)'],
      ['bash', '-c', 'A=1 git push > out'],
      ['bash', '-c', 'if true; then git push; fi'],
      ['bash', '-c', 'bash -c "nice git push"'],
      ['find', '.', '-exec', 'git', 'push', ';'],
      ['eval', 'git push'],
    ]) {
      for (const approval_policy of ['untrusted', 'on-request', 'never'] as const) {
        const c = exec(argv, { ...forbidPush, approval_policy });
        assert.ok(c.kind === 'reject' && c.code === 'forbidden_by_rule', `${argv.join(' ')}: ${JSON.stringify(c)}`);
      }
    }
    assert.equal(exec(['bash', '-c', 'git status && git pull'], forbidPush).kind, 'run');
  });

  test('a command computed at run time that could be forbidden goes to review (rejected under "never")', () => {
    for (const argv of [
      ['bash', '-c', '$X push'],
      ['bash', '-c', 'git $SUB'],
      ['bash', 'script.sh'],
      ['bash', '-c', 'echo git push | bash'],
    ]) {
      const c = exec(argv, forbidPush);
      assert.equal(c.kind, 'review', argv.join(' '));
      assert.match(c.reason, /could match rule \["git","push"\]/);
      assert.equal(exec(argv, { ...forbidPush, approval_policy: 'never' }).kind, 'reject');
    }
    assert.equal(exec(['bash', '-c', 'git $SUB'], { rules: [] }).kind, 'run', 'no rule: the sandbox decides');
  });

  test('prompt rules apply to every command of a script', () => {
    const rules = [{ pattern: ['npm', 'publish'], decision: 'prompt' as const }];
    assert.equal(exec(['bash', '-lc', 'npm test && npm publish'], { rules }).kind, 'review');
    assert.equal(exec(['bash', '-lc', 'npm test > log; npm publish'], { rules }).kind, 'review');
    assert.equal(exec(['bash', '-lc', 'npm test'], { rules }).kind, 'run');
  });

  test('allow needs every command of a plain script to be allowed', () => {
    const rules = [{ pattern: ['npm', 'test'], decision: 'allow' as const, source: 'cluster' as const }];
    const untrusted = { rules, approval_policy: 'untrusted' as const };
    assert.equal(exec(['bash', '-lc', 'npm test && npm test -- -x'], untrusted).kind, 'run');
    assert.equal(exec(['nice', 'npm', 'test'], untrusted).kind, 'run');
    assert.equal(exec(['bash', '-lc', 'npm test && ls'], untrusted).kind, 'run', 'allowed and trusted');
    for (const argv of [
      ['bash', '-lc', 'npm test && rm -rf x'],
      ['bash', '-lc', 'npm test > out'],
      ['bash', '-lc', 'npm test $(rm x)'],
      ['bash', '-lc', 'A=1 npm test'],
      ['env', 'NODE_OPTIONS=--require=./x.js', 'npm', 'test'],
      ['./npm', 'test'],
      ['bash', '-lc', 'f() { rm x; }; npm test'],
    ]) {
      assert.equal(exec(argv, untrusted).kind, 'review', argv.join(' '));
      assert.equal(exec(argv, { rules }, true).kind, 'review', `escalated: ${argv.join(' ')}`);
    }
    assert.equal(exec(['bash', '-lc', 'npm test && npm test'], { rules }, true).kind, 'run', 'operator rule');
  });

  test('under "untrusted" a script is trusted only when plain and every command in it is trusted', () => {
    const untrusted = { approval_policy: 'untrusted' as const };
    for (const argv of [
      ['bash', '-lc', 'ls -la'],
      ['bash', '-lc', 'ls | wc -l && pwd'],
      ['sh', '-c', 'cat a; head -n 3 b'],
      ['/bin/ls'],
      ['timeout', '5', 'grep', '-rn', 'x', '.'],
    ]) {
      assert.equal(exec(argv, untrusted).kind, 'run', argv.join(' '));
    }
    for (const argv of [
      ['bash', '-lc', 'ls > files.txt'],
      ['bash', '-lc', 'ls && rm x'],
      ['bash', '-lc', 'cat $(rm x)'],
      ['bash', '-lc', 'cat `rm x`'],
      ['bash', '-lc', 'echo hi | tee x'],
      ['bash', '-lc', 'ls *'],
      ['bash', '-lc', 'x=1; ls'],
      ['bash', '-lc', '(ls)'],
      ['bash', '-lc', 'cat <<EOF\nx\nEOF'],
      ['bash', '-lc', 'git status'],
      ['env', 'LD_PRELOAD=/workspace/x.so', 'ls'],
      ['./ls'],
      ['xargs', 'cat'],
      ['bash', 'x.sh'],
    ]) {
      const c = exec(argv, untrusted);
      assert.equal(c.kind, 'review', argv.join(' '));
    }
  });
});

describe('trusted list: no form that writes or executes', () => {
  test('writer and executor forms are not trusted; their reading forms are', () => {
    for (const argv of [
      ['tree', '-o', 'out'],
      ['tree', '-oout'],
      ['tree', '-aR', '-H', '.'],
      ['uniq', 'in', 'out'],
      ['uniq', '-c', 'in', 'out'],
      ['uniq', '--', 'in', 'out'],
      ['sort', '-o', 'out', 'in'],
      ['sort', '-uo', 'out', 'in'],
      ['sort', '-oout', 'in'],
      ['sort', '--output=out', 'in'],
      ['sort', '--out=out', 'in'],
      ['sort', '--output', 'out', 'in'],
      ['sort', '--compress-program=sh', 'in'],
      ['sort', '--comp=sh', 'in'],
      ['sort', '-T', '/tmp', 'in'],
      ['sort', '--temporary-directory=/tmp', 'in'],
      ['file', '-C', '-m', 'magic'],
      ['file', '-Cm', 'magic'],
      ['file', '--compile', '-m', 'magic'],
      ['rg', '-z', 'x'],
      ['rg', '-iz', 'x'],
      ['rg', '--search-zip', 'x'],
      ['rg', '--pre=sh', 'x'],
      ['date', '-s', 'now'],
      ['date', '--set=now'],
      ['git', 'status'],
      ['git', 'diff'],
      ['git', 'log'],
      ['git', 'show'],
      ['git', 'branch'],
      ['find', '.', '-fprint', 'out'],
    ]) {
      assert.equal(isTrustedCommand(argv), false, argv.join(' '));
    }
    for (const argv of [
      ['tree'],
      ['tree', '-L', '2', '-a'],
      ['uniq', 'in'],
      ['uniq', '-c'],
      ['sort', 'in'],
      ['sort', '-u', '-k', '2', 'in'],
      ['sort', '-n', '--reverse', 'in'],
      ['file', 'x'],
      ['file', '-m', 'magic', 'x'],
      ['rg', '-i', 'x'],
      ['date'],
      ['date', '+%s'],
    ]) {
      assert.equal(isTrustedCommand(argv), true, argv.join(' '));
    }
  });
});

describe('requirements ceilings', () => {
  const escalated = { argv: ['touch', '/home/sandbox/x'], cwd: '/workspace', escalate: { justification: 'j' } };
  const ceiling: Partial<ClassifyContext> = { allowed_sandbox_modes: ['read-only', 'workspace-write'] };

  test('an escalation past allowed_sandbox_modes is rejected, whatever rule allows it and whatever the policy', () => {
    for (const source of ['cluster', 'requirements', 'thread', undefined] as const) {
      for (const approval_policy of ['untrusted', 'on-request', 'never'] as const) {
        const c = classifyExec(
          escalated,
          ctx({
            ...ceiling,
            approval_policy,
            rules: [{ pattern: ['touch'], decision: 'allow', ...(source ? { source } : {}) }],
          }),
        );
        assert.ok(c.kind === 'reject' && c.code === 'not_allowed_by_requirements', JSON.stringify(c));
        assert.match(c.reason, /"danger-full-access" is not allowed by requirement allowed_sandbox_modes/);
      }
    }
    const toReadOnly = classifyExec({ ...escalated, escalate: { justification: 'j', sandbox_mode: 'workspace-write' } }, ctx({ ...ceiling, sandbox_mode: 'read-only' }));
    assert.equal(toReadOnly.kind, 'review', 'an escalation within the ceiling is reviewed as usual');
    assert.equal(classifyExec(escalated, ctx()).kind, 'review', 'no ceiling: unconstrained (old records)');
    assert.equal(classifyExec({ argv: ['ls'], cwd: '/workspace' }, ctx(ceiling)).kind, 'run');
  });

  test('forbidden wins over the ceiling (its code names the rule)', () => {
    const c = classifyExec(escalated, ctx({ ...ceiling, rules: [{ pattern: ['touch'], decision: 'forbidden' }] }));
    assert.ok(c.kind === 'reject' && c.code === 'forbidden_by_rule');
  });
});

describe('setup scripts', () => {
  const rules = [
    { pattern: ['curl'], decision: 'forbidden' as const },
    { pattern: ['npm', 'ci'], decision: 'allow' as const },
  ];
  test('a script naming a forbidden command anywhere is refused; one computed at run time too', () => {
    for (const script of [
      'curl x',
      'npm ci && curl x',
      'if true; then\n  nice curl x\nfi',
      'echo $(curl x) > f',
      '$FETCH x',
      'bash -c "env A=1 curl x"',
    ]) {
      const r = checkSetupScript(script, rules);
      assert.equal(r.ok, false, script);
    }
    assert.match((checkSetupScript('npm ci && curl x', rules) as { reason: string }).reason, /\["curl"\]/);
  });
  test('a script without forbidden commands passes, plain or not; no forbidden rule, anything passes', () => {
    assert.deepEqual(checkSetupScript('npm ci > log && echo "$HOME" && ./configure', rules), { ok: true });
    assert.deepEqual(checkSetupScript('$ANYTHING', []), { ok: true });
  });
});

describe('denial circuit breaker', () => {
  test('3 consecutive denials trip it; a non-denial resets the consecutive count', () => {
    const b = new DenialBreaker();
    assert.equal(b.record('denied'), undefined);
    assert.equal(b.record('denied'), undefined);
    assert.equal(b.record('timed_out'), undefined);
    assert.equal(b.record('denied'), undefined);
    assert.equal(b.record('denied'), undefined);
    assert.match(b.record('denied') ?? '', /3 consecutive denials/);
  });

  test('10 denials among the last 50 reviews trip it', () => {
    const b = new DenialBreaker();
    let tripped: string | undefined;
    for (let i = 0; i < 10 && !tripped; i++) {
      b.record('approved');
      tripped = b.record('denied');
      if (i < 9) assert.equal(tripped, undefined, `tripped early at ${i}`);
    }
    assert.match(tripped ?? '', /10 denials among the last 20 reviews/);
  });

  test('denials older than the last 50 reviews fall out of the window', () => {
    const b = new DenialBreaker();
    for (let i = 0; i < 9; i++) {
      b.record('denied');
      b.record('approved');
    }
    for (let i = 0; i < 50; i++) b.record('approved');
    assert.equal(b.record('denied'), undefined);
    const restored = new DenialBreaker(b.state());
    assert.deepEqual(restored.state(), b.state());
  });
});

describe('action hash and model messages', () => {
  test('the same action hashes the same whatever the key order; any difference changes it', () => {
    const a = actionHash({
      argv: ['curl', 'x'],
      cwd: '/w',
      permissions: { sandbox_mode: 'danger-full-access', network: true },
    });
    const b = actionHash({
      cwd: '/w',
      permissions: { network: true, sandbox_mode: 'danger-full-access' },
      argv: ['curl', 'x'],
    });
    assert.equal(a, b);
    assert.notEqual(
      a,
      actionHash({
        argv: ['curl', 'y'],
        cwd: '/w',
        permissions: { sandbox_mode: 'danger-full-access', network: true },
      }),
    );
    assert.notEqual(
      a,
      actionHash({
        argv: ['curl', 'x'],
        cwd: '/v',
        permissions: { sandbox_mode: 'danger-full-access', network: true },
      }),
    );
    assert.notEqual(a, actionHash({ argv: ['curl', 'x'], cwd: '/w' }));
  });

  test('a denial forbids workarounds; a timeout is not presented as a denial', () => {
    const base = { rationale: 'exfiltrates secrets', risk_level: 'high' as const };
    assert.match(
      reviewMessage({ ...base, outcome: 'denied' }),
      /Do not pursue the same outcome through a workaround/,
    );
    const timeout = reviewMessage({ ...base, outcome: 'timed_out' });
    assert.match(timeout, /not proof the action is unsafe/);
    assert.doesNotMatch(timeout, /Denied/);
    assert.match(
      reviewMessage({ ...base, outcome: 'failed', reason: 'connection_refused' }),
      /connection_refused.*not a denial/,
    );
  });
});
