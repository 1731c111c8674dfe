// End to end (real Redis, Docker, orchestrator, worker): a command's output reaches the thread's
// stream as bounded deltas held to the item, turn and thread caps, and an OOM-killed command's
// item says it ran out of memory.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ThreadEvent, ThreadItem } from '@paddock/contracts';
import { keys } from '@paddock/contracts';
import { apiOf, type Cluster, jsonlEvents, newThread, newWorkspace, SMALL_LIMITS, startCluster, waitForTurnEnd } from './cluster.ts';

const CAPS = { itemBytes: 48 * 1024, turnBytes: 96 * 1024, threadBytes: 160 * 1024 };
/** What the events themselves add around the output (JSON, ids, the markers): generous. */
const EVENT_OVERHEAD_BYTES = 32 * 1024;

let c: Cluster;
let call: ReturnType<typeof apiOf>;

before(async () => {
  c = await startCluster('e2e-output-caps', {
    worker: { maxOutputBytes: 4 * 1024 * 1024, outputThrottleMs: 100, outputCaps: CAPS },
  });
  call = apiOf(c);
});
after(() => c?.close());

type CommandItem = Extract<ThreadItem, { type: 'command_execution' }>;
const commandsOf = (events: ThreadEvent[], turnId: string) =>
  events.flatMap((e) =>
    e.type === 'item.completed' && e.turn_id === turnId && e.item.type === 'command_execution' ? [e.item as CommandItem] : [],
  );

async function submit(token: string, threadId: string, body: Record<string, unknown>): Promise<string> {
  const r = await call('POST', `/v1/threads/${threadId}/turns`, token, body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.id as string;
}

/** The stream's size as stored: the sum of its entries' field bytes. */
async function streamBytes(threadId: string): Promise<number> {
  const entries = (await c.client.xrange(keys.events(threadId), '-', '+')) as [string, string[]][];
  return entries.reduce((sum, [, fields]) => sum + fields.reduce((n, f) => n + Buffer.byteLength(f), 0), 0);
}

/** About 3 MB of output over about 4 s, in 40 slow chunks. */
const SLOW_FLOOD = 'for i in $(seq 1 40); do head -c 75000 /dev/zero | tr "\\0" x; echo; sleep 0.1; done; echo done';

describe('command output in the thread stream', () => {
  test('an oversized slow output stays under the item, turn and thread caps and says it was truncated', async () => {
    const ws = await newWorkspace(c, 'flood');
    const threadId = await newThread(c, ws.owner, { sandbox_mode: 'workspace-write', approval_policy: 'never' });

    const turn1 = await submit(ws.owner, threadId, {
      commands: [{ argv: ['bash', '-c', SLOW_FLOOD] }, { argv: ['bash', '-c', SLOW_FLOOD] }, { argv: ['echo', 'after'] }],
    });
    const end1 = await waitForTurnEnd(c, threadId, turn1, 120_000);
    assert.equal(end1.type, 'turn.completed', 'the turn goes on past the caps');
    const afterTurn1 = await streamBytes(threadId);
    assert.ok(afterTurn1 < CAPS.turnBytes + EVENT_OVERHEAD_BYTES, `stream holds ${afterTurn1} bytes after one turn`);

    const events = await jsonlEvents(c, ws.owner, threadId);
    const [first, second, last] = commandsOf(events, turn1);
    assert.equal(first!.status, 'completed');
    assert.equal(first!.output_truncated, true, 'the final item says it was truncated');
    assert.match(first!.aggregated_output, /output truncated: the (item|turn) output cap was reached/);
    assert.ok(Buffer.byteLength(first!.aggregated_output) <= CAPS.itemBytes + 256);
    assert.equal(second!.output_truncated, true);
    assert.equal(last!.status, 'completed');
    // item.updated carries deltas, never the whole output so far: together they stay within the item cap.
    const deltas = events.flatMap((e) =>
      e.type === 'item.updated' && e.turn_id === turn1 && e.item.id === first!.id && 'output_delta' in e.item
        ? [e.item]
        : [],
    );
    assert.ok(deltas.length >= 1, 'live output was streamed');
    const deltaBytes = deltas.reduce((n, d) => n + Buffer.byteLength(d.output_delta), 0);
    assert.ok(deltaBytes <= CAPS.itemBytes + 256, `${deltaBytes} bytes of deltas for one item`);
    assert.ok(deltas.every((d) => !('aggregated_output' in d)), 'no snapshot of the whole output in an update');
    assert.equal(deltas.at(-1)!.output_truncated, true);

    // A second turn in the same thread: the thread's cap bounds the stream over both.
    const turn2 = await submit(ws.owner, threadId, {
      commands: [{ argv: ['bash', '-c', SLOW_FLOOD] }, { argv: ['bash', '-c', SLOW_FLOOD] }],
    });
    const end2 = await waitForTurnEnd(c, threadId, turn2, 120_000);
    assert.equal(end2.type, 'turn.completed');
    const afterTurn2 = await streamBytes(threadId);
    assert.ok(
      afterTurn2 < CAPS.threadBytes + 2 * EVENT_OVERHEAD_BYTES,
      `stream holds ${afterTurn2} bytes after two turns`,
    );
    const again = commandsOf(await jsonlEvents(c, ws.owner, threadId), turn2);
    assert.equal(again.length, 2);
    assert.ok(again.every((i) => i.output_truncated === true));
  });

  test('small outputs are whole: deltas add up to the completed output, no truncation', async () => {
    const ws = await newWorkspace(c, 'small');
    const threadId = await newThread(c, ws.owner, { sandbox_mode: 'workspace-write', approval_policy: 'never' });
    const turnId = await submit(ws.owner, threadId, {
      commands: [{ argv: ['bash', '-c', 'for i in 1 2 3 4 5; do echo line-$i; sleep 0.2; done'] }],
    });
    assert.equal((await waitForTurnEnd(c, threadId, turnId)).type, 'turn.completed');
    const events = await jsonlEvents(c, ws.owner, threadId);
    const [item] = commandsOf(events, turnId);
    assert.equal(item!.aggregated_output, 'line-1\nline-2\nline-3\nline-4\nline-5\n');
    assert.equal(item!.output_truncated, undefined);
    const streamed = events
      .flatMap((e) => (e.type === 'item.updated' && e.item.id === item!.id && 'output_delta' in e.item ? [e.item.output_delta] : []))
      .join('');
    assert.equal(streamed, item!.aggregated_output);
  });
});

describe('out of memory', () => {
  test('an OOM-killed command is failed and its item says so, with the limit', async () => {
    const ws = await newWorkspace(c, 'oom');
    const threadId = await newThread(c, ws.owner, { sandbox_mode: 'workspace-write', approval_policy: 'never' });
    // Node (mounted in every sandbox) allocating past the sandbox's memory limit, touching every page.
    const allocate = `const a = []; for (let i = 0; i < 64; i++) a.push(Buffer.alloc(32 * 1024 * 1024, 1)); console.log('survived')`;
    const turnId = await submit(ws.owner, threadId, {
      commands: [{ argv: ['/opt/paddock/node', '-e', allocate] }, { argv: ['echo', 'still here'] }],
    });
    assert.equal((await waitForTurnEnd(c, threadId, turnId, 120_000)).type, 'turn.completed');
    const [killed, next] = commandsOf(await jsonlEvents(c, ws.owner, threadId), turnId);
    assert.equal(killed!.status, 'failed', JSON.stringify(killed));
    assert.ok(killed!.exit_code === 137 || killed!.exit_code === null, `exit ${killed!.exit_code}`);
    assert.equal(killed!.message, `killed: out of memory (limit ${SMALL_LIMITS.memoryMb} MiB)`);
    assert.doesNotMatch(killed!.aggregated_output, /survived/);
    assert.equal(next!.aggregated_output, 'still here\n', 'the sandbox goes on');
  });
});
