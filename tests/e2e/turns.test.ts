// End to end, all five services on one shared cluster (real Redis, real Docker, the orchestrator's
// HTTP API, the guardian, the egress proxy, the sandbox worker; fake models only): an agent turn
// with reviews and network decisions, the approval policies, the guardian hanging and down, the
// denial circuit breaker and a user's override, and two workspaces side by side.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RecordedRequest, ScriptedReply } from '@paddock/testing';
import type { ThreadEvent, ThreadItem } from '@paddock/contracts';
import { keys } from '@paddock/contracts';
import { waitFor } from '@paddock/testing';
import {
  apiOf,
  type Cluster,
  jsonlEvents,
  newThread,
  newWorkspace,
  startCluster,
  waitForTurnEnd,
} from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;

/** The guardian's model: deny what names a marker or the forbidden host, hang on request, else allow. */
function guardianVerdicts(req: RecordedRequest): ScriptedReply {
  const text = JSON.stringify(req.body);
  const verdict = (outcome: 'allow' | 'deny', rationale: string): ScriptedReply => ({
    kind: 'json',
    value: { risk_level: outcome === 'allow' ? 'low' : 'high', user_authorization: 'unknown', outcome, rationale },
  });
  if (text.includes('HANG-REVIEW')) return { kind: 'hang' };
  if (text.includes('user override')) return verdict('allow', 'the user approved this exact retry');
  if (text.includes('forbidden.test')) return verdict('deny', 'the forbidden host is not needed for this task');
  if (text.includes('DENY-ME')) return verdict('deny', 'this command is not needed for the task');
  return verdict('allow', 'routine');
}

before(async () => {
  c = await startCluster('e2e-turns');
  call = apiOf(c);
  c.guardianModel.setHandler(guardianVerdicts);
});
after(() => c?.close());

const shell = (command: string[], extra: Record<string, unknown> = {}): ScriptedReply => ({
  kind: 'tool_call',
  name: 'shell',
  arguments: { command, ...extra },
});

async function submit(token: string, threadId: string, body: Record<string, unknown>): Promise<string> {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.id as string;
}

/** Waits for the thread's one pending approval request, decides it through the API; returns its action. */
async function decidePending(token: string, threadId: string, decision: string): Promise<Record<string, unknown>> {
  let pending: { id: string; action: Record<string, unknown> }[] = [];
  await waitFor(
    async () => {
      const r = await call('GET', `/v1/threads/${threadId}/approvals?status=pending`, token);
      pending = r.json.items ?? [];
      return pending.length === 1;
    },
    20_000,
    'a pending approval',
  );
  const r = await call('POST', `/v1/approvals/${pending[0]!.id}`, token, { decision });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return pending[0]!.action;
}

type CommandItem = Extract<ThreadItem, { type: 'command_execution' }>;
const completedItems = (events: ThreadEvent[], turnId: string) =>
  events.flatMap((e) => (e.type === 'item.completed' && e.turn_id === turnId ? [e.item] : []));
const commands = (events: ThreadEvent[], turnId: string) =>
  completedItems(events, turnId).filter((i): i is CommandItem => i.type === 'command_execution');

function networkConfig(extra: Record<string, unknown> = {}) {
  return {
    sandbox_mode: 'workspace-write',
    approval_policy: 'on-request',
    approvals_reviewer: 'auto_review',
    network: {
      mode: 'allowlist',
      allowed_domains: [c.allowed.name],
      allowed_ports: [c.allowed.port, c.forbidden.port],
    },
    ...extra,
  };
}

describe('agent turns', () => {
  test('ls, a file write, an approved escalation, an allowed and a forbidden fetch, then an answer', async () => {
    const ws = await newWorkspace(c, 'agent');
    const threadId = await newThread(c, ws.owner, networkConfig());
    const guardianCallsBefore = c.guardianModel.requests.length;
    const forbiddenHitsBefore = c.forbidden.hits();
    c.agentModel.script(
      { ...shell(['ls', '-la', '/workspace']), usage: { input_tokens: 100, output_tokens: 10 } },
      { ...shell(['bash', '-c', 'echo "notes" > notes.txt && cat notes.txt']), usage: { input_tokens: 110, output_tokens: 11 } },
      {
        ...shell(['bash', '-c', 'echo escalated > "$HOME/outside.txt" && cat "$HOME/outside.txt"'], {
          with_escalated_permissions: true,
          justification: 'write a marker outside the workspace',
        }),
        usage: { input_tokens: 120, output_tokens: 12 },
      },
      { ...shell(['curl', '-sS', `http://${c.allowed.name}:${c.allowed.port}/`]), usage: { input_tokens: 130, output_tokens: 13 } },
      {
        ...shell(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${c.forbidden.name}:${c.forbidden.port}/`]),
        usage: { input_tokens: 140, output_tokens: 14 },
      },
      { kind: 'text', text: 'All done.', usage: { input_tokens: 150, output_tokens: 15 } },
    );
    const turnId = await submit(ws.owner, threadId, { input: 'look around, write notes, fetch both servers' });
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    assert.deepEqual((end as { usage: unknown }).usage, {
      input_tokens: 750,
      cached_input_tokens: 0,
      output_tokens: 75,
    });

    const events = await jsonlEvents(c, ws.owner, threadId);
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 2), ['thread.started', 'turn.started']);
    assert.equal(types.at(-1), 'turn.completed');
    const cmds = commands(events, turnId);
    assert.equal(cmds.length, 5);
    assert.deepEqual(
      cmds.map((x) => [x.status, x.exit_code]),
      [
        ['completed', 0],
        ['completed', 0],
        ['completed', 0],
        ['completed', 0],
        ['completed', 0],
      ],
    );
    assert.match(cmds[0]!.command, /^ls -la \/workspace$/);
    assert.equal(cmds[1]!.aggregated_output, 'notes\n');
    assert.equal(cmds[2]!.aggregated_output, 'escalated\n');
    assert.equal(cmds[3]!.aggregated_output, 'hello from the allowed server\n');
    assert.equal(cmds[4]!.aggregated_output, '403', 'the proxy refused the forbidden host');
    assert.equal(c.forbidden.hits(), forbiddenHitsBefore, 'the forbidden server was never reached');
    // Every command item started before it completed, in the stream the API serves.
    for (const cmd of cmds) {
      const started = events.findIndex((e) => e.type === 'item.started' && e.item.id === cmd.id);
      const completed = events.findIndex((e) => e.type === 'item.completed' && e.item.id === cmd.id);
      assert.ok(started >= 0 && started < completed, `${cmd.command}: started before completed`);
    }
    // The escalation was reviewed (approved) before it ran; the forbidden fetch went to the guardian,
    // whose network review is a review item on the turn too (issue 15).
    const reviews = completedItems(events, turnId).filter((i) => i.type === 'review');
    assert.deepEqual(
      reviews.map((r) => (r as { outcome: string }).outcome),
      ['approved', 'denied'],
    );
    assert.match((reviews[1] as { rationale: string }).rationale, /^network http/);
    const guardianCalls = c.guardianModel.requests.slice(guardianCallsBefore).map((r) => JSON.stringify(r.body));
    assert.equal(guardianCalls.length, 2, 'one review for the escalation, one for the forbidden host');
    assert.ok(guardianCalls.some((b) => b.includes('outside.txt')));
    assert.ok(guardianCalls.some((b) => b.includes(c.forbidden.name)));
    const message = completedItems(events, turnId).find((i) => i.type === 'agent_message');
    assert.equal((message as { text: string }).text, 'All done.');
    // The model saw each command's result, and the conversation is kept for the thread's next turn.
    // The cluster's provider says wire_api = "chat" (the default is Codex's, the Responses API): every call went to Chat Completions.
    assert.deepEqual(new Set(c.agentModel.requests.map((r) => r.api)), new Set(['chat']));
    const lastRequest = c.agentModel.requests.at(-1)!.body as { messages: { role: string; content: string }[] };
    const toolAnswers = lastRequest.messages.filter((m) => m.role === 'tool').map((m) => m.content);
    assert.equal(toolAnswers.length, 5);
    assert.match(toolAnswers[3]!, /hello from the allowed server/);
    assert.ok((await c.client.llen(keys.conversation(threadId))) >= 12);
  });

  test('wire_api "responses": the Responses API, the tool output sent back as function_call_output; a turn back on chat', async () => {
    const ws = await newWorkspace(c, 'responses');
    // The cluster file defines a provider per wire; the thread and the turn pick one by name.
    const provider = (wire: 'chat' | 'responses') => ({ model_provider: `fake-${wire}` });
    const threadId = await newThread(c, ws.owner, networkConfig(provider('responses')));
    const before = c.agentModel.requests.length;
    c.agentModel.script(
      {
        kind: 'tool_call',
        name: 'shell',
        arguments: { command: ['bash', '-c', 'echo wired > wire.txt && cat wire.txt'] },
        callId: 'call_resp_1',
        usage: { input_tokens: 200, cached_input_tokens: 150, output_tokens: 20 },
      },
      { kind: 'text', text: 'Wrote wire.txt.', usage: { input_tokens: 230, cached_input_tokens: 200, output_tokens: 9 } },
    );
    const turnId = await submit(ws.owner, threadId, { input: 'write wire.txt' });
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    assert.deepEqual((end as { usage: unknown }).usage, {
      input_tokens: 430,
      cached_input_tokens: 350,
      output_tokens: 29,
    });
    const events = await jsonlEvents(c, ws.owner, threadId);
    const cmds = commands(events, turnId);
    assert.deepEqual(cmds.map((x) => [x.status, x.exit_code, x.aggregated_output]), [['completed', 0, 'wired\n']]);
    const message = completedItems(events, turnId).find((i) => i.type === 'agent_message');
    assert.equal((message as { text: string }).text, 'Wrote wire.txt.');

    // Both calls went to /v1/responses, statelessly; the second carried the command's output back.
    const sent = c.agentModel.requests.slice(before);
    assert.deepEqual(sent.map((r) => r.api), ['responses', 'responses']);
    type Item = { type: string; role?: string; content?: unknown; call_id?: string; output?: string };
    const [first, second] = sent.map((r) => r.body as { input: Item[]; instructions?: string; store?: boolean });
    assert.equal(first!.store, false);
    assert.match(String(first!.instructions), /coding agent/);
    assert.deepEqual(first!.input, [{ type: 'message', role: 'user', content: 'write wire.txt' }]);
    const call = second!.input.find((i) => i.type === 'function_call');
    const output = second!.input.find((i) => i.type === 'function_call_output');
    assert.equal(call?.call_id, 'call_resp_1');
    assert.equal(output?.call_id, 'call_resp_1');
    assert.match(String(output?.output), /wired/);

    // The next turn sets wire_api "chat": the same stored conversation goes out as chat messages.
    c.agentModel.script({ kind: 'text', text: 'Still here.', usage: { input_tokens: 50, output_tokens: 3 } });
    const next = await submit(ws.owner, threadId, { input: 'anything else?', config: provider('chat') });
    const nextEnd = await waitForTurnEnd(c, threadId, next);
    assert.equal(nextEnd.type, 'turn.completed', JSON.stringify(nextEnd));
    const chat = c.agentModel.requests.at(-1)!;
    assert.equal(chat.api, 'chat');
    const messages = chat.body['messages'] as { role: string; tool_call_id?: string; content?: string }[];
    assert.deepEqual(
      messages.map((m) => m.role),
      ['system', 'user', 'assistant', 'tool', 'assistant', 'user'],
    );
    assert.equal(messages[3]?.tool_call_id, 'call_resp_1');
    assert.match(String(messages[3]?.content), /wired/);
  });
});

describe('approval policies', () => {
  test('"never": an escalation is rejected without a review and does not run', async () => {
    const ws = await newWorkspace(c, 'never');
    const threadId = await newThread(c, ws.owner, networkConfig({ approval_policy: 'never' }));
    const before = c.guardianModel.requests.length;
    const turnId = await submit(ws.owner, threadId, {
      commands: [
        { argv: ['bash', '-c', 'touch "$HOME/never.txt"'], escalate: { justification: 'needs home' } },
        { argv: ['bash', '-c', 'ls "$HOME"; echo listed'] },
      ],
    });
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.completed');
    const events = await jsonlEvents(c, ws.owner, threadId);
    const [rejected, listing] = commands(events, turnId);
    assert.equal(rejected!.status, 'declined');
    assert.match(rejected!.aggregated_output, /approval_policy "never"/);
    assert.equal(listing!.aggregated_output.includes('never.txt'), false, 'the rejected command did not run');
    assert.equal(c.guardianModel.requests.length, before, 'no review');
    assert.equal(completedItems(events, turnId).filter((i) => i.type === 'review').length, 0);
  });

  test('"user": one approval approved and one denied through the API', async () => {
    const ws = await newWorkspace(c, 'user');
    const threadId = await newThread(c, ws.owner, networkConfig({ approvals_reviewer: 'user' }));
    const turnId = await submit(ws.owner, threadId, {
      commands: [
        { argv: ['bash', '-c', 'echo yes > "$HOME/a.txt"; cat "$HOME/a.txt"'], escalate: { justification: 'first' } },
        { argv: ['bash', '-c', 'echo no > "$HOME/b.txt"'], escalate: { justification: 'second' } },
        { argv: ['bash', '-c', 'ls "$HOME"'] },
      ],
    });
    await decidePending(ws.owner, threadId, 'approve');
    await decidePending(ws.owner, threadId, 'deny');
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.completed');
    const events = await jsonlEvents(c, ws.owner, threadId);
    const [first, second, listing] = commands(events, turnId);
    assert.equal(first!.status, 'completed');
    assert.equal(first!.aggregated_output, 'yes\n');
    assert.equal(second!.status, 'declined');
    assert.match(second!.aggregated_output, /Denied by review/);
    assert.equal(listing!.aggregated_output, 'a.txt\n', 'the denied command did not run');
    const requests = completedItems(events, turnId).filter((i) => i.type === 'approval_request');
    assert.deepEqual(
      requests.map((r) => (r as { status: string }).status),
      ['approved', 'denied'],
    );
    const denials = await call('GET', `/v1/threads/${threadId}/denials`, ws.owner);
    assert.equal(denials.json.items.length, 1);
    assert.equal(denials.json.items[0].source, 'user');
  });

  test('"user": a request the allowlist blocks is held for a person; denied is refused, approved goes through', async () => {
    const ws = await newWorkspace(c, 'user-net');
    // The allowlist names neither server: each fetch needs a person's approval.
    const threadId = await newThread(
      c,
      ws.owner,
      networkConfig({
        approvals_reviewer: 'user',
        network: { mode: 'allowlist', allowed_domains: ['nothing.test'], allowed_ports: [c.allowed.port, c.forbidden.port] },
      }),
    );
    const forbiddenHits = c.forbidden.hits();
    const allowedHits = c.allowed.hits();
    const guardianCalls = c.guardianModel.requests.length;
    const turnId = await submit(ws.owner, threadId, {
      commands: [
        { argv: ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %header{x-paddock-reason}', `http://${c.forbidden.name}:${c.forbidden.port}/`] },
        { argv: ['curl', '-sS', `http://${c.allowed.name}:${c.allowed.port}/`] },
      ],
    });
    for (const [host, decision] of [
      [c.forbidden.name, 'deny'],
      [c.allowed.name, 'approve'],
    ] as const) {
      const action = await decidePending(ws.owner, threadId, decision);
      assert.deepEqual([action['type'], action['host']], ['network', host]);
    }
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.completed', JSON.stringify(end));
    const events = await jsonlEvents(c, ws.owner, threadId);
    assert.deepEqual(
      commands(events, turnId).map((x) => x.aggregated_output),
      ['403 review-denied', 'hello from the allowed server\n'],
    );
    assert.equal(c.forbidden.hits(), forbiddenHits, 'the denied destination was never reached');
    assert.equal(c.allowed.hits(), allowedHits + 1, 'the approved one was, once');
    const requests = completedItems(events, turnId).filter((i) => i.type === 'approval_request');
    assert.deepEqual(
      requests.map((r) => (r as { status: string }).status),
      ['denied', 'approved'],
    );
    assert.equal(c.guardianModel.requests.length, guardianCalls, 'a person decided: no guardian review');
  });

  test('the guardian hanging → timed_out, the guardian down → failed; neither action runs', async () => {
    const ws = await newWorkspace(c, 'fail-closed');
    const threadId = await newThread(c, ws.owner, networkConfig());
    const hung = await submit(ws.owner, threadId, {
      commands: [
        { argv: ['bash', '-c', 'touch "$HOME/hung.txt"'], escalate: { justification: 'HANG-REVIEW' } },
        { argv: ['bash', '-c', 'ls "$HOME"; echo end'] },
      ],
    });
    const hungEnd = await waitForTurnEnd(c, threadId, hung);
    assert.equal(hungEnd.type, 'turn.completed');
    let events = await jsonlEvents(c, ws.owner, threadId);
    const [timedOut, listing] = commands(events, hung);
    assert.equal(timedOut!.status, 'declined');
    assert.match(timedOut!.aggregated_output, /timed out.*not proof the action is unsafe/s);
    assert.equal(listing!.aggregated_output, 'end\n');
    const hungReview = completedItems(events, hung).find((i) => i.type === 'review') as { outcome: string };
    assert.equal(hungReview.outcome, 'timed_out');

    await c.stopGuardian();
    try {
      const down = await submit(ws.owner, threadId, {
        commands: [
          { argv: ['bash', '-c', 'touch "$HOME/down.txt"'], escalate: { justification: 'guardian is away' } },
          { argv: ['bash', '-c', 'ls "$HOME"; echo end'] },
        ],
      });
      const downEnd = await waitForTurnEnd(c, threadId, down);
      assert.equal(downEnd.type, 'turn.completed');
      events = await jsonlEvents(c, ws.owner, threadId);
      const [failed, after] = commands(events, down);
      assert.equal(failed!.status, 'declined');
      assert.match(failed!.aggregated_output, /could not be completed.*This is not a denial/s);
      assert.equal(after!.aggregated_output, 'end\n', 'neither action ran');
      const review = completedItems(events, down).find((i) => i.type === 'review') as { outcome: string };
      assert.equal(review.outcome, 'failed');
    } finally {
      await c.startGuardian();
    }
    const denials = await call('GET', `/v1/threads/${threadId}/denials`, ws.owner);
    assert.equal(denials.json.items.length, 0, 'timed_out and failed are not denials');
  });
});

describe('denial circuit breaker and override', () => {
  test('three denials in a row end the turn; an approved denial lets that exact action through review once', async () => {
    const ws = await newWorkspace(c, 'breaker');
    const threadId = await newThread(c, ws.owner, networkConfig());
    const denied = (n: number) => ({
      argv: ['bash', '-c', `echo ${n} > "$HOME/d${n}.txt"`],
      escalate: { justification: `DENY-ME ${n}` },
    });
    const turnId = await submit(ws.owner, threadId, {
      commands: [denied(1), denied(2), denied(3), { argv: ['bash', '-c', 'echo never-reached'] }],
    });
    const end = await waitForTurnEnd(c, threadId, turnId);
    assert.equal(end.type, 'turn.failed');
    assert.equal((end as { error: { code?: string } }).error.code, 'denial_circuit_breaker');
    let events = await jsonlEvents(c, ws.owner, threadId);
    assert.equal(commands(events, turnId).length, 3, 'the fourth command never ran');
    const warning = completedItems(events, turnId).find((i) => i.type === 'error') as { message: string };
    assert.match(warning.message, /3 consecutive denials/);

    const list = await call('GET', `/v1/threads/${threadId}/denials`, ws.owner);
    assert.equal(list.json.items.length, 3);
    const first = list.json.items.find((d: { action: { argv: string[] } }) => d.action.argv[2]!.includes('echo 1'));
    const approve = await call('POST', `/v1/threads/${threadId}/denials/${first.id}/approve`, ws.owner);
    assert.equal(approve.status, 200, JSON.stringify(approve.json));

    const retry = await submit(ws.owner, threadId, {
      commands: [
        // The same argv, cwd and permissions (the justification may be reworded): reviewed with the override.
        { argv: denied(1).argv, escalate: { justification: 'DENY-ME 1, approved by the user' } },
        // Another action is untouched by the override: still denied.
        denied(2),
        // The override was single-use: the same action again is denied again.
        { argv: denied(1).argv, escalate: { justification: 'DENY-ME 1 again' } },
        { argv: ['bash', '-c', 'ls "$HOME"'] },
      ],
    });
    const retryEnd = await waitForTurnEnd(c, threadId, retry);
    assert.equal(retryEnd.type, 'turn.completed');
    events = await jsonlEvents(c, ws.owner, threadId);
    const cmds = commands(events, retry);
    assert.deepEqual(
      cmds.map((x) => x.status),
      ['completed', 'declined', 'declined', 'completed'],
    );
    assert.equal(cmds[3]!.aggregated_output, 'd1.txt\n');
    const overrideReview = c.guardianModel.requests.find((r) => JSON.stringify(r.body).includes('user override'));
    assert.ok(overrideReview, 'the retry was reviewed with the override in its context');
  });
});

describe('tenancy', () => {
  test("two workspaces' turns run at once in separate sandboxes: no shared files, events or approvals", async () => {
    const a = await newWorkspace(c, 'tenant-a');
    const b = await newWorkspace(c, 'tenant-b');
    const config = { ...networkConfig(), approvals_reviewer: 'user' };
    const ta = await newThread(c, a.owner, config);
    const tb = await newThread(c, b.owner, config);
    const script = (secret: string) => ({
      commands: [
        { argv: ['bash', '-c', `echo ${secret} > secret.txt; sleep 1; ls /workspace; cat secret.txt; hostname`] },
        { argv: ['bash', '-c', `echo ${secret} > "$HOME/x"`], escalate: { justification: `home ${secret}` } },
      ],
    });
    const [turnA, turnB] = await Promise.all([
      submit(a.owner, ta, script('alpha-secret')),
      submit(b.owner, tb, script('beta-secret')),
    ]);
    // Both turns wait on their own approval: each workspace sees only its own.
    await waitFor(
      async () =>
        (await call('GET', `/v1/threads/${ta}/approvals?status=pending`, a.owner)).json.items?.length === 1 &&
        (await call('GET', `/v1/threads/${tb}/approvals?status=pending`, b.owner)).json.items?.length === 1,
      30_000,
      'both approvals pending',
    );
    const pendingA = (await call('GET', `/v1/threads/${ta}/approvals?status=pending`, a.owner)).json.items[0];
    assert.equal((await call('GET', `/v1/threads/${ta}/approvals`, b.owner)).status, 404);
    assert.equal((await call('POST', `/v1/approvals/${pendingA.id}`, b.owner, { decision: 'approve' })).status, 404);
    assert.equal((await call('GET', `/v1/threads/${ta}/events?format=jsonl`, b.owner)).status, 404);
    assert.equal((await call('POST', `/v1/approvals/${pendingA.id}`, a.owner, { decision: 'approve' })).status, 200);
    const pendingB = (await call('GET', `/v1/threads/${tb}/approvals?status=pending`, b.owner)).json.items[0];
    assert.equal((await call('POST', `/v1/approvals/${pendingB.id}`, b.owner, { decision: 'deny' })).status, 200);
    assert.equal((await waitForTurnEnd(c, ta, turnA)).type, 'turn.completed');
    assert.equal((await waitForTurnEnd(c, tb, turnB)).type, 'turn.completed');
    const ea = await jsonlEvents(c, a.owner, ta);
    const eb = await jsonlEvents(c, b.owner, tb);
    const [la, ra] = commands(ea, turnA);
    const [lb, rb] = commands(eb, turnB);
    assert.deepEqual(la!.aggregated_output.split('\n').slice(0, 2), ['secret.txt', 'alpha-secret']);
    assert.deepEqual(lb!.aggregated_output.split('\n').slice(0, 2), ['secret.txt', 'beta-secret']);
    const hostA = la!.aggregated_output.split('\n')[2];
    const hostB = lb!.aggregated_output.split('\n')[2];
    assert.notEqual(hostA, hostB, 'separate sandboxes');
    assert.equal(ra!.status, 'completed');
    assert.equal(rb!.status, 'declined', "b's denial did not touch a's approval");
    assert.equal(JSON.stringify(ea).includes('beta-secret'), false);
    assert.equal(JSON.stringify(eb).includes('alpha-secret'), false);
  });
});
