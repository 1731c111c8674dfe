import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  actionHash,
  type ClassifyContext,
  classifyExec,
  DenialBreaker,
  isTrustedCommand,
  reviewMessage,
  strictestRule,
} from '../src/policy/index.ts';

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

  test("allow runs; an escalation only when the operator's or the requirements' rule allows it; prompt goes to the reviewer", () => {
    const escalated = { argv: ['npm', 'test'], cwd: '/workspace', escalate: { justification: 'needs network' } };
    const byOperator = classifyExec(
      escalated,
      ctx({ rules: [{ pattern: ['npm', 'test'], decision: 'allow', source: 'cluster' }] }),
    );
    assert.deepEqual(
      [byOperator.kind, byOperator.kind === 'run' && byOperator.sandbox_mode],
      ['run', 'danger-full-access'],
    );
    for (const source of ['environment', 'thread', 'turn', undefined] as const) {
      const byTenant = classifyExec(
        escalated,
        ctx({ rules: [{ pattern: ['npm', 'test'], decision: 'allow', ...(source ? { source } : {}) }] }),
      );
      assert.equal(byTenant.kind, 'review', String(source));
    }
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
