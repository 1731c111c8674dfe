// End to end, the failure paths of a turn: an interrupt stops the running command's process tree
// and ends the turn `interrupted`; a worker SIGKILLed mid-command leaves its turn to another worker,
// which fails it (`worker_lost`) within the lock time without running any command twice, and the
// dead worker's containers are reaped once its lease lapses.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { analyticsKeys, FIELD_SEP, keys, LABEL, parseEntries, utcDay } from '@paddock/contracts';
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

  test('a worker SIGKILLed mid-command: the turn fails once, no command ran twice, its containers are reaped', async () => {
    const options = c.workerOptions();
    const { docker: _d, logger: _l, ...plain } = options;
    const child = spawn(process.execPath, [new URL('./fixtures/worker-process.ts', import.meta.url).pathname], {
      env: { ...process.env, WORKER_OPTIONS: JSON.stringify(plain) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let rescuer: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      const doomedId = line.split(' ')[1]!;
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
      assert.equal(end.type, 'turn.failed');
      assert.equal((end as { error: { code?: string } }).error.code, 'worker_lost');
      const lockMs = options.turnLockMs;
      assert.ok(Date.now() - killedAt < lockMs * 4 + 10_000, 'taken over within a few lock periods');
      // Each command id was recorded before it ran: only the first, once; the second never started.
      const recorded = await c.client.hgetall(keys.turnCommands(turnId));
      assert.deepEqual(Object.keys(recorded).filter((k) => !k.endsWith(':done')), ['cmd-0']);
      const events = await jsonlEvents(c, ws.owner, threadId);
      const starts = events.filter(
        (e) => e.type === 'item.started' && e.turn_id === turnId && e.item.type === 'command_execution',
      );
      assert.equal(starts.length, 1, 'one command started, once');
      assert.equal(events.filter((e) => e.type === 'turn.failed' && e.turn_id === turnId).length, 1);
      const turn = await call('GET', `/v1/threads/${threadId}/turns/${turnId}`, ws.owner);
      assert.equal(turn.json.status, 'failed');
      // Its usage counted once (by the rescuer; the dead worker never got to), with one turn.finished.
      const bucket = await c.client.hgetall(analyticsKeys.usage(ws.id, utcDay(Date.now())));
      assert.equal(bucket[['owner@death.test', 'api', 'turns'].join(FIELD_SEP)], '1');
      const finished = (await c.client.xrange(keys.audit(ws.id), '-', '+'))
        .map(([, f]) => JSON.parse(f[1]!) as { action: string; target: string; details: { error_code?: string } })
        .filter((e) => e.action === 'turn.finished' && e.target === turnId);
      assert.deepEqual(finished.map((e) => e.details.error_code), ['worker_lost']);
      // The dead worker's sandboxes (the thread's and its warm one) go once its lease lapses.
      await waitFor(
        async () => (await containersOf(`${LABEL.worker}=${doomedId}`)).length === 0,
        options.leaseMs + 30_000,
        "the dead worker's containers to be reaped",
      );
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rescuer?.close();
    }
  });
});
