// End to end, the failure paths of a turn: an interrupt stops the running command's process tree
// and ends the turn `interrupted`; a worker SIGKILLed mid-command leaves its turn to another worker,
// which resumes it within the lock time (the command whose outcome is unknown is not run again, the
// next one runs) and the dead worker's containers are reaped once its lease lapses; a worker
// SIGKILLed mid-model-call has its agent turn resumed from the checkpoint; a worker stopped with
// SIGTERM drains: its running turn is handed over and resumed by another worker, not failed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { analyticsKeys, FIELD_SEP, keys, LABEL, parseEntries, sandboxKeys, utcDay } from '@paddock/contracts';
import { waitFor } from '@paddock/testing';
import { startWorker } from '@paddock/sandbox-worker';
import { apiOf, type Cluster, jsonlEvents, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;
before(async () => {
  c = await startCluster('e2e-failure', { workers: 0 });
  call = apiOf(c);
});
after(() => c?.close());

const config = { sandbox_mode: 'workspace-write', approval_policy: 'on-request', approvals_reviewer: 'user' };

async function submit(token: string, threadId: string, body: Record<string, unknown>): Promise<string> {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.id as string;
}

async function commandStarted(threadId: string, turnId: string, command: RegExp) {
  await waitFor(
    async () =>
      parseEntries((await c.client.xrange(keys.events(threadId), '-', '+')) as [string, string[]][]).some(
        ({ event: e }) =>
          e.type === 'item.started' &&
          e.turn_id === turnId &&
          e.item.type === 'command_execution' &&
          command.test(e.item.command),
      ),
    60_000,
    'the command to start',
  );
}

const containersOf = (label: string) =>
  c.docker.listContainers({ all: true, filters: JSON.stringify({ label: [label] }) });

describe('failure', () => {
  test('interrupt kills the running command tree and ends the turn interrupted', async () => {
    const worker = await startWorker(c.workerOptions());
    try {
      const ws = await newWorkspace(c, 'interrupt');
      const threadId = await newThread(c, ws.owner, config);
      const turnId = await submit(ws.owner, threadId, {
        commands: [
          { argv: ['bash', '-c', 'sleep 300 & sleep 301; echo not-reached'] },
          { argv: ['bash', '-c', 'echo never'] },
        ],
      });
      await commandStarted(threadId, turnId, /sleep 301/);
      const asked = Date.now();
      const r = await call('POST', `/v1/threads/${threadId}/turns/${turnId}/interrupt`, ws.owner);
      assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.json));
      const end = await waitForTurnEnd(c, threadId, turnId, 15_000);
      assert.equal(end.type, 'turn.failed');
      assert.equal((end as { error: { code?: string } }).error.code, 'interrupted');
      assert.ok(Date.now() - asked < 15_000);
      // The next turn sees no process left of it.
      const check = await submit(ws.owner, threadId, {
        commands: [{ argv: ['bash', '-c', 'ps -eo args | grep -c "^sleep 30[01]" || true'] }],
      });
      assert.equal((await waitForTurnEnd(c, threadId, check)).type, 'turn.completed');
      const events = await jsonlEvents(c, ws.owner, threadId);
      const outputs = events.flatMap((e) =>
        e.type === 'item.completed' && e.item.type === 'command_execution' ? [[e.turn_id, e.item.aggregated_output]] : [],
      );
      assert.deepEqual(
        outputs.filter(([t]) => t === check).map(([, o]) => o),
        ['0\n'],
      );
      assert.equal(
        outputs.some(([, o]) => o?.includes('never')),
        false,
        'the command after the interrupted one never ran',
      );
    } finally {
      await worker.close();
    }
  });

  // Events as the assertions read them (any type, with or without an item).
  type LooseEvent = { type: string; turn_id?: string; item: { id: string; type: string; message?: string; text?: string; aggregated_output?: string } };
  const turnEvents = async (token: string, threadId: string, turnId: string) =>
    ((await jsonlEvents(c, token, threadId)) as unknown as LooseEvent[]).filter((e) => e.turn_id === turnId);

  const spawnWorker = (env: Record<string, string> = {}) => {
    const options = c.workerOptions();
    const { docker: _d, logger: _l, ...plain } = options;
    const child = spawn(process.execPath, [new URL('./fixtures/worker-process.ts', import.meta.url).pathname], {
      env: { ...process.env, WORKER_OPTIONS: JSON.stringify(plain), ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const ready = once(createInterface({ input: child.stdout! }), 'line').then(([line]) => (line as string).split(' ')[1]!);
    return { child, exited, ready, options };
  };

  test('a worker SIGKILLed mid-command: the turn resumes elsewhere, the unknown command is not run again, its containers are reaped', async () => {
    const { child, exited, ready, options } = spawnWorker();
    let rescuer: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const doomedId = await ready;
      const ws = await newWorkspace(c, 'death');
      const threadId = await newThread(c, ws.owner, config);
      const turnId = await submit(ws.owner, threadId, {
        commands: [
          { argv: ['bash', '-c', 'echo ran >> /workspace/runs.log; sleep 120'] },
          { argv: ['bash', '-c', 'echo second'] },
        ],
      });
      await commandStarted(threadId, turnId, /sleep 120/);
      assert.ok((await containersOf(`${LABEL.worker}=${doomedId}`)).length >= 1);
      child.kill('SIGKILL');
      await exited;

      const killedAt = Date.now();
      rescuer = await startWorker(c.workerOptions());
      const end = await waitForTurnEnd(c, threadId, turnId, 60_000);
      assert.equal(end.type, 'turn.completed', JSON.stringify(end));
      const lockMs = options.turnLockMs;
      assert.ok(Date.now() - killedAt < lockMs * 4 + 10_000, 'taken over within a few lock periods');
      // Each command id was recorded before it ran, once: the first by the dead worker (no result),
      // the second by the rescuer (with its result).
      const recorded = await c.client.hgetall(keys.turnCommands(turnId));
      assert.deepEqual(Object.keys(recorded).filter((k) => !k.includes(':')).sort(), ['cmd-0', 'cmd-1']);
      assert.equal(JSON.parse(recorded['cmd-0:result']!).outcomeUnknown, true);
      assert.match(JSON.parse(recorded['cmd-1:result']!).forModel, /second/);
      assert.equal(await c.client.hget(keys.turn(turnId), 'attempt'), '2');
      const mine = await turnEvents(ws.owner, threadId, turnId);
      const starts = mine.filter((e) => e.type === 'item.started' && e.item.type === 'command_execution');
      assert.equal(starts.length, 2, 'each command started once');
      // The unknown one is completed under the item id it started with, and says so.
      const first = mine.find((e) => e.type === 'item.completed' && e.item.id === starts[0]!.item.id);
      assert.match(first?.item.aggregated_output ?? '', /outcome unknown/);
      assert.equal(mine.filter((e) => e.type === 'turn.started').length, 1, 'one turn.started');
      assert.ok(mine.some((e) => e.type === 'item.completed' && e.item.type === 'error' && /resumed/.test(e.item.message ?? '')));
      assert.equal(mine.filter((e) => e.type === 'turn.completed' || e.type === 'turn.failed').length, 1, 'one closing event');
      const ids = mine.filter((e) => e.type === 'item.started').map((e) => e.item.id);
      assert.equal(new Set(ids).size, ids.length, 'no item id started twice');
      const turn = await call('GET', `/v1/threads/${threadId}/turns/${turnId}`, ws.owner);
      assert.equal(turn.json.status, 'completed');
      // Its usage counted once (by the rescuer; the dead worker never got to), with one turn.finished.
      const bucket = await c.client.hgetall(analyticsKeys.usage(ws.id, utcDay(Date.now())));
      assert.equal(bucket[['owner@death.test', 'api', 'turns'].join(FIELD_SEP)], '1');
      const finished = (await c.client.xrange(keys.audit(ws.id), '-', '+'))
        .map(([, f]) => JSON.parse(f[1]!) as { action: string; target: string; details: { status?: string } })
        .filter((e) => e.action === 'turn.finished' && e.target === turnId);
      assert.deepEqual(finished.map((e) => e.details.status), ['completed']);
      // The dead worker's sandboxes go once its lease lapses, but for the thread's when the rescuer
      // adopted it (its workspace kept: the cloud-files work).
      const sandboxId = await c.client.get(sandboxKeys.threadSandbox(ws.id, threadId));
      await waitFor(
        async () => {
          const left = await containersOf(`${LABEL.worker}=${doomedId}`);
          return left.every((x) => x.Labels[LABEL.sandbox] === sandboxId);
        },
        options.leaseMs + 30_000,
        "the dead worker's other containers to be reaped",
      );
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rescuer?.close();
    }
  });

  test('a worker SIGKILLed mid-model-call: the agent turn resumes from its checkpoint; the finished command is not run again', async () => {
    const { child, exited, ready } = spawnWorker();
    let rescuer: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      await ready;
      const ws = await newWorkspace(c, 'agentdeath');
      const threadId = await newThread(c, ws.owner, { ...config, approval_policy: 'never' });
      // Step 1 asks for a command; step 2's model call hangs until the worker is killed.
      let calls = 0;
      c.agentModel.setHandler(() => {
        calls++;
        if (calls === 1) return { kind: 'tool_call', name: 'shell', arguments: { command: ['bash', '-c', 'echo step1 >> /workspace/agent.log'] }, callId: 'call_a1' };
        if (calls === 2) return { kind: 'hang' };
        return { kind: 'text', text: 'done after resume' };
      });
      const turnId = await submit(ws.owner, threadId, { input: 'do the thing' });
      await waitFor(async () => calls >= 2 && c.agentModel.inFlight() > 0, 60_000, 'the second model call to hang');
      child.kill('SIGKILL');
      await exited;
      rescuer = await startWorker(c.workerOptions());
      const end = await waitForTurnEnd(c, threadId, turnId, 60_000);
      assert.equal(end.type, 'turn.completed', JSON.stringify(end));
      // The resumed attempt called the model with the checkpointed conversation: the tool answer of step 1 in it.
      const last = c.agentModel.requests.at(-1)!.body as { messages?: { role: string; content?: unknown }[]; input?: unknown };
      const sent = JSON.stringify(last.messages ?? last.input);
      assert.match(sent, /do the thing/);
      assert.match(sent, /exit code: 0/);
      assert.equal((sent.match(/do the thing/g) ?? []).length, 1, 'the input is in the conversation once');
      const mine = await turnEvents(ws.owner, threadId, turnId);
      assert.equal(mine.filter((e) => e.type === 'item.started' && e.item.type === 'command_execution').length, 1, 'the command ran once');
      assert.equal(mine.filter((e) => e.type === 'turn.completed' || e.type === 'turn.failed').length, 1);
      assert.ok(mine.some((e) => e.type === 'item.completed' && e.item.type === 'agent_message' && e.item.text === 'done after resume'));
    } finally {
      c.agentModel.setHandler(undefined);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rescuer?.close();
    }
  });

  test('SIGTERM drains a worker: a turn that cannot finish within the budget is handed over and resumed, not failed', async () => {
    // An 8 s grace: the drain point is a few seconds after the signal; sandboxes kept, as main.ts does.
    const { child, exited, ready } = spawnWorker({ SHUTDOWN_GRACE_MS: '8000', KEEP_SANDBOXES: '1' });
    let rescuer: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      await ready;
      const ws = await newWorkspace(c, 'drain');
      const threadId = await newThread(c, ws.owner, config);
      const turnId = await submit(ws.owner, threadId, {
        commands: [
          { argv: ['bash', '-c', 'echo one'] },
          { argv: ['bash', '-c', 'sleep 60'] },
          { argv: ['bash', '-c', 'echo three'] },
        ],
      });
      await commandStarted(threadId, turnId, /sleep 60/);
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      // 0: closed within its own deadline (past it, lifecycle.ts exits 1), before a supervisor's SIGKILL.
      assert.equal(code, 0, 'the drained worker exits cleanly within its budget');
      assert.equal(await c.client.hget(keys.turn(turnId), 'status'), 'running', 'handed over, not failed');
      rescuer = await startWorker(c.workerOptions());
      const end = await waitForTurnEnd(c, threadId, turnId, 60_000);
      assert.equal(end.type, 'turn.completed', JSON.stringify(end));
      const recorded = await c.client.hgetall(keys.turnCommands(turnId));
      assert.match(JSON.parse(recorded['cmd-0:result']!).forModel, /one/, 'the first command kept its result');
      assert.match(JSON.parse(recorded['cmd-2:result']!).forModel, /three/, 'the rest ran on the next worker');
      const mine = await turnEvents(ws.owner, threadId, turnId);
      const starts = mine.filter((e) => e.type === 'item.started' && e.item.type === 'command_execution');
      assert.equal(starts.length, 3, 'each command started once');
      assert.equal(mine.filter((e) => e.type === 'turn.completed' || e.type === 'turn.failed').length, 1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rescuer?.close();
    }
  });
});
