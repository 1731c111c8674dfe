// End to end, the command policy against the real cluster (real Redis, Docker, orchestrator, guardian,
// worker; fake models only): a forbidden command under every wrapper, the trusted list's writer forms
// under "untrusted", an allow rule escalating past allowed_sandbox_modes or (as Codex) skipping review, and an
// environment setup script that names a forbidden command. Each proves "did not run" by a marker file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { sandboxKeys } from '@paddock/contracts';
import type { ThreadEvent, ThreadItem } from '@paddock/contracts';
import { apiOf, type Cluster, jsonlEvents, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;

before(async () => {
  c = await startCluster('e2e-command-policy');
  call = apiOf(c);
  // The guardian approves everything: whatever does not run here was stopped before any review.
  c.guardianModel.setHandler(() => ({
    kind: 'json',
    value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' },
  }));
});
after(() => c?.close());

async function submit(token: string, threadId: string, body: Record<string, unknown>): Promise<string> {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.id as string;
}

type CommandItem = Extract<ThreadItem, { type: 'command_execution' }>;
const completedItems = (events: ThreadEvent[], turnId: string) =>
  events.flatMap((e) => (e.type === 'item.completed' && e.turn_id === turnId ? [e.item] : []));
const commandItems = (events: ThreadEvent[], turnId: string) =>
  completedItems(events, turnId).filter((i): i is CommandItem => i.type === 'command_execution');

/** The file names a final `ls -a` printed (the last command of each scripted turn lists the folder). */
const listed = (item: CommandItem | undefined) => new Set((item?.aggregated_output ?? '').split('\n').filter(Boolean));

describe('command policy', () => {
  test('a forbidden command is rejected, and does not run, under every wrapper and in every script form', async () => {
    const ws = await newWorkspace(c, 'wrappers');
    const threadId = await newThread(c, ws.owner, {
      sandbox_mode: 'workspace-write',
      approval_policy: 'on-request',
      approvals_reviewer: 'auto_review',
      rules: [{ pattern: ['touch'], decision: 'forbidden' }],
    });
    const forms: string[][] = [
      ['bash', '-lc', 'touch m-bash-lc'],
      ['sh', '-c', 'touch m-sh-c'],
      ['/usr/bin/touch', 'm-path'],
      ['env', 'A=1', 'touch', 'm-env'],
      ['bash', '-c', 'command touch m-command'],
      ['nice', '-n', '5', 'touch', 'm-nice'],
      ['timeout', '5', 'touch', 'm-timeout'],
      ['nohup', 'touch', 'm-nohup'],
      ['bash', '-c', 'time touch m-time'],
      ['bash', '-c', 'exec touch m-exec'],
      ['bash', '-c', 'A=1 touch m-assign'],
      ['bash', '-c', 'true && touch m-and'],
      ['bash', '-c', 'false || touch m-or'],
      ['bash', '-c', 'true; touch m-seq'],
      ['bash', '-c', 'echo m-xargs | xargs touch'],
      ['bash', '-c', 'echo $(touch m-subst)'],
      ['bash', '-c', 'bash -c "touch m-nested"'],
      ['find', '.', '-maxdepth', '0', '-exec', 'touch', 'm-find', ';'],
    ];
    const guardianCallsBefore = c.guardianModel.requests.length;
    const turnId = await submit(ws.owner, threadId, {
      commands: [...forms.map((argv) => ({ argv })), { argv: ['ls', '-a', '/workspace'] }],
    });
    const end = await waitForTurnEnd(c, threadId, turnId, 120_000);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    const items = commandItems(await jsonlEvents(c, ws.owner, threadId), turnId);
    assert.equal(items.length, forms.length + 1);
    const files = listed(items.at(-1));
    assert.ok(files.has('.'), 'the listing ran');
    assert.deepEqual([...files].filter((f) => f.startsWith('m-')), [], 'no marker was written');
    const notDeclined = forms.filter(
      (_, i) => items[i]!.status !== 'declined' || !/forbidden by rule \["touch"\]/.test(items[i]!.aggregated_output),
    );
    assert.deepEqual(notDeclined, [], 'every form was rejected by the rule');
    assert.equal(c.guardianModel.requests.length, guardianCallsBefore, 'forbidden is never reviewed');
  });

  test('under "untrusted", each writer form of a trusted command goes to review and does not run unapproved', async () => {
    const ws = await newWorkspace(c, 'writers');
    // The setup script (run unreviewed, before the turn) makes a repository whose own config runs
    // programs: core.fsmonitor on `git status`, a textconv driver on `git diff`; and a compressor.
    const setup = [
      'git init -q . && git config user.email a@b.test && git config user.name a',
      'echo b > t.txt && echo a >> t.txt && echo "t.txt diff=conv" > .gitattributes',
      'git add . && git commit -qm init && echo c >> t.txt',
      'git config core.fsmonitor "touch w-fsmonitor; false"',
      'git config diff.conv.textconv "touch w-textconv; cat"',
      `printf '#!/bin/sh\\ntouch /workspace/w-compress\\ncat\\n' > compress && chmod +x compress`,
      'seq 1 200000 > big.txt',
    ].join(' && ');
    const threadId = await newThread(
      c,
      ws.owner,
      { sandbox_mode: 'workspace-write', approval_policy: 'untrusted', approvals_reviewer: 'user' },
      { setup_script: setup },
    );
    const writers: string[][] = [
      ['sort', '-o', 'w-sort-o', 't.txt'],
      ['sort', '--out=w-sort-out', 't.txt'],
      ['sort', '-uow-sort-uo', 't.txt'],
      ['sort', '-S', '64K', '--compress-program=./compress', 'big.txt'],
      ['uniq', 't.txt', 'w-uniq'],
      ['git', 'status'],
      ['git', 'diff'],
    ];
    const turnId = await submit(ws.owner, threadId, {
      commands: [...writers.map((argv) => ({ argv })), { argv: ['ls', '-a', '/workspace'] }],
    });
    // Nobody answers the approvals: each waits approvalTimeoutMs (3 s) and is aborted.
    const end = await waitForTurnEnd(c, threadId, turnId, 180_000);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    const events = await jsonlEvents(c, ws.owner, threadId);
    const items = commandItems(events, turnId).filter((i) => i.command !== 'environment setup script');
    assert.equal(items.length, writers.length + 1);
    const files = listed(items.at(-1));
    assert.ok(files.has('t.txt'), 'the setup script ran and the listing ran (trusted, unreviewed)');
    assert.deepEqual([...files].filter((f) => f.startsWith('w-')), [], 'nothing was written or executed');
    const ran = writers.filter((_, i) => items[i]!.status === 'completed');
    assert.deepEqual(ran, [], 'no writer form ran');
    const reviewed = completedItems(events, turnId).flatMap((i) =>
      i.type === 'approval_request' ? [(i.action as { argv: string[] }).argv] : [],
    );
    assert.deepEqual(reviewed, writers, 'each writer form was sent to a person for review');
  });

  const allowTouch = {
    sandbox_mode: 'workspace-write',
    approval_policy: 'on-request',
    approvals_reviewer: 'auto_review',
    rules: [{ pattern: ['touch'], decision: 'allow' }],
  };
  const escalated = (marker: string) => ({
    argv: ['touch', `/home/sandbox/${marker}`],
    escalate: { justification: 'write a marker in the home directory' },
  });

  test('an allow rule never runs an escalation outside allowed_sandbox_modes: rejected, never reviewed', async () => {
    const ws = await newWorkspace(c, 'ceiling');
    const r = await call('PUT', `/v1/workspaces/${ws.id}/requirements`, ws.owner, {
      allowed_sandbox_modes: ['read-only', 'workspace-write'],
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const guardianCallsBefore = c.guardianModel.requests.length;
    const threadId = await newThread(c, ws.owner, allowTouch);
    const turnId = await submit(ws.owner, threadId, {
      commands: [escalated('esc-ceiling'), { argv: ['ls', '-a', '/home/sandbox'] }],
    });
    assert.equal((await waitForTurnEnd(c, threadId, turnId)).type, 'turn.completed');
    const [refused, listing] = commandItems(await jsonlEvents(c, ws.owner, threadId), turnId);
    assert.ok(listed(listing).has('.'), 'the listing ran');
    assert.equal(listed(listing).has('esc-ceiling'), false, 'the escalation did not run');
    assert.equal(refused!.status, 'declined', refused!.aggregated_output);
    assert.match(refused!.aggregated_output, /"danger-full-access" is not allowed by requirement allowed_sandbox_modes/);
    assert.equal(c.guardianModel.requests.length, guardianCallsBefore, 'not reviewed');
  });

  test("as Codex's execpolicy: a tenant's allow rule covering the command runs its escalation without review", async () => {
    const ws = await newWorkspace(c, 'tenant-allow');
    const guardianCallsBefore = c.guardianModel.requests.length;
    const threadId = await newThread(c, ws.owner, { ...allowTouch, approval_policy: 'never' });
    const turnId = await submit(ws.owner, threadId, {
      commands: [escalated('esc-tenant'), { argv: ['ls', '-a', '/home/sandbox'] }],
    });
    assert.equal((await waitForTurnEnd(c, threadId, turnId)).type, 'turn.completed');
    const [allowed, listing] = commandItems(await jsonlEvents(c, ws.owner, threadId), turnId);
    assert.equal(allowed!.status, 'completed', allowed!.aggregated_output);
    assert.ok(listed(listing).has('esc-tenant'), 'the escalation ran');
    assert.equal(c.guardianModel.requests.length, guardianCallsBefore, 'not reviewed');
  });

  test('a setup script naming a forbidden command is refused whole: the turn fails naming the rule, nothing of it ran', async () => {
    const ws = await newWorkspace(c, 'setup');
    const threadId = await newThread(
      c,
      ws.owner,
      {
        sandbox_mode: 'workspace-write',
        approval_policy: 'on-request',
        approvals_reviewer: 'auto_review',
        rules: [{ pattern: ['touch'], decision: 'forbidden' }],
      },
      { setup_script: 'echo first > s-first\nif true; then nice touch s-touched; fi' },
    );
    const turnId = await submit(ws.owner, threadId, { commands: [{ argv: ['bash', '-c', 'echo turn > s-turn'] }] });
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.failed', JSON.stringify(end));
    const error = (end as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'setup_forbidden');
    assert.match(error.message, /forbidden by rule \["touch"\]/);
    const items = commandItems(await jsonlEvents(c, ws.owner, threadId), turnId);
    assert.deepEqual(
      items.map((i) => [i.command, i.status]),
      [['environment setup script', 'declined']],
    );
    // The thread's sandbox is still there: its workspace holds nothing of the script or the turn.
    const sandboxId = await c.client.get(sandboxKeys.threadSandbox(ws.id, threadId));
    assert.ok(sandboxId, 'the thread has a sandbox');
    const containerId = await c.client.hget(sandboxKeys.sandbox(sandboxId), 'containerId');
    assert.ok(containerId, 'its container is recorded');
    const { stdout } = await promisify(execFile)('docker', ['exec', containerId, 'ls', '-a', '/workspace'], {
      timeout: 30_000,
    });
    const files = stdout.split('\n').filter(Boolean);
    assert.ok(files.includes('.'));
    assert.deepEqual(files.filter((f) => f.startsWith('s-')), []);
  });
});
