// Unit tests of the turn engine's pure parts: the model's shell arguments, command quoting, the
// guardian's policy layers from the effective config, the egress record's escalation, the canonical
// action hash an override relies on; and the throttle of output events against a real Redis.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type EffectiveConfig, resolveConfig } from '@paddock/config';
import { actionHash, keys, parseEntries } from '@paddock/contracts';
import { type RedisServer, startRedis } from '@paddock/testing';
import { actionOf } from '../src/turn/action-gate.ts';
import { parseShellCall } from '../src/turn/agent-loop.ts';
import { shellQuote } from '../src/turn/command-runner.ts';
import { itemEvents } from '../src/turn/item-events.ts';
import { egressSettings, policyContext } from '../src/turn/turn-config.ts';

const config = (over: Partial<EffectiveConfig> = {}): EffectiveConfig => ({ ...resolveConfig([]), ...over });

describe('turn engine units', () => {
  test('shell calls: argv, workdir, timeout and escalation are checked; bad ones are answered, not run', () => {
    assert.deepEqual(parseShellCall('{"command":["ls","-la"]}', 'c1'), { id: 'c1', argv: ['ls', '-la'], cwd: '/workspace' });
    assert.deepEqual(
      parseShellCall(
        '{"command":["make"],"workdir":"/workspace/app","timeout_ms":5000,"with_escalated_permissions":true,"justification":"needs it"}',
        'c2',
      ),
      { id: 'c2', argv: ['make'], cwd: '/workspace/app', timeoutMs: 5000, escalate: { justification: 'needs it' } },
    );
    assert.match(parseShellCall('not json', 'x') as string, /not JSON/);
    assert.match(parseShellCall('{"command":"ls"}', 'x') as string, /"command"/);
    assert.match(parseShellCall('{"command":["ls"],"workdir":"rel"}', 'x') as string, /"workdir"/);
    assert.match(parseShellCall('{"command":["ls"],"timeout_ms":-1}', 'x') as string, /"timeout_ms"/);
    assert.match(parseShellCall('{"command":["ls"],"with_escalated_permissions":true}', 'x') as string, /justification/);
  });

  test('commands are shown shell-quoted', () => {
    assert.equal(shellQuote(['ls', '-la', '/workspace']), 'ls -la /workspace');
    assert.equal(shellQuote(['bash', '-c', "echo 'hi' > a b"]), `bash -c 'echo '\\''hi'\\'' > a b'`);
  });

  test('policy layers reach the guardian: operator policy, managed policy and tenant guidance apart; a blocked request goes to the thread reviewer', () => {
    assert.deepEqual(policyContext(config()), { sandbox_mode: 'workspace-write', approval_policy: 'on-request' });
    const layered = policyContext(
      config({
        guardian_policy: 'OP',
        guardian_policy_source: 'cluster',
        guardian_managed_policy: 'M',
        guardian_tenant_guidance: ['T', '  '],
      }),
    );
    assert.deepEqual(
      [layered.operator_policy, layered.managed_policy, layered.tenant_guidance, layered.guardian_policy],
      ['OP', 'M', ['T'], undefined],
    );
    // Turn records queued before this version: the thread's policy becomes guidance, managed stays managed.
    const oldThread = policyContext({ ...config(), guardian_policy: 'T', guardian_policy_source: 'thread' } as unknown as EffectiveConfig);
    assert.deepEqual([oldThread.operator_policy, oldThread.managed_policy, oldThread.tenant_guidance], [undefined, undefined, ['T']]);
    const oldManaged = policyContext({ ...config(), guardian_policy: 'M', guardian_policy_source: 'requirements' } as unknown as EffectiveConfig);
    assert.deepEqual([oldManaged.operator_policy, oldManaged.managed_policy, oldManaged.tenant_guidance], [undefined, 'M', undefined]);
    assert.equal(egressSettings(config({ approvals_reviewer: 'auto_review' })).escalation, 'guardian');
    assert.equal(egressSettings(config({ approvals_reviewer: 'user' })).escalation, 'user');
    assert.equal(egressSettings(config({ approvals_reviewer: 'user', approval_policy: 'never' })).escalation, 'none');
    assert.equal(
      egressSettings(config({ approvals_reviewer: 'auto_review', approval_policy: 'never' })).escalation,
      'none',
    );
  });

  test('an override matches the same argv, cwd and permissions, whatever the justification', () => {
    const a = actionOf({ argv: ['rm', 'x'], cwd: '/w', escalate: { justification: 'one' } });
    const b = actionOf({ argv: ['rm', 'x'], cwd: '/w', escalate: { justification: 'reworded' } });
    assert.equal(actionHash(a), actionHash(b));
    assert.notEqual(actionHash(a), actionHash(actionOf({ argv: ['rm', 'x'], cwd: '/w' })), 'permissions differ');
    assert.notEqual(actionHash(a), actionHash(actionOf({ argv: ['rm', 'y'], cwd: '/w', escalate: { justification: 'one' } })));
    assert.notEqual(actionHash(a), actionHash(actionOf({ argv: ['rm', 'x'], cwd: '/v', escalate: { justification: 'one' } })));
    const net = { type: 'network', host: 'a.test', port: 80, protocol: 'http' };
    assert.notEqual(actionHash(net), actionHash({ ...net, port: 81 }), 'other actions: every field counts');
  });
});

describe('output throttle', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('many chunks become few item.updated deltas that add up to all the output', async () => {
    const client = redis.client();
    const events = itemEvents(client, 'thr_t', 'turn_t', 200);
    const item = { id: 'item_1', type: 'command_execution' as const, command: 'x', aggregated_output: '', exit_code: null, status: 'in_progress' as const };
    const live = events.outputStream(item);
    for (let i = 0; i < 100; i++) live.push(`${i}\n`);
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 100; i < 200; i++) live.push(`${i}\n`);
    await live.flush();
    const stored = parseEntries((await client.xrange(keys.events('thr_t'), '-', '+')) as [string, string[]][]);
    assert.ok(stored.length >= 1 && stored.length <= 3, `${stored.length} updates for 200 chunks`);
    const deltas = stored.map((e) => e.event as { type: string; item: { output_delta: string; aggregated_output?: string } });
    assert.ok(deltas.every((d) => d.type === 'item.updated' && d.item.aggregated_output === undefined));
    const all = deltas.map((d) => d.item.output_delta).join('');
    assert.equal(all, Array.from({ length: 200 }, (_, i) => `${i}\n`).join(''));
    assert.equal(live.truncated, false);
  });

  test('past the item cap the deltas stop with a marker; the completed output is cut to the turn cap', async () => {
    const client = redis.client();
    const caps = { itemBytes: 4096, turnBytes: 6144, threadBytes: 1 << 20 };
    const events = itemEvents(client, 'thr_c', 'turn_c', 10, caps);
    const item = { id: 'item_c', type: 'command_execution' as const, command: 'x', aggregated_output: '', exit_code: null, status: 'in_progress' as const };
    const live = events.outputStream(item);
    for (let i = 0; i < 50; i++) {
      live.push('é'.repeat(300)); // two bytes a character: cuts never split one
      await new Promise((r) => setTimeout(r, 2));
    }
    await live.flush();
    assert.equal(live.truncated, true);
    await events.completedCommand({ ...item, aggregated_output: 'z'.repeat(20_000), exit_code: 0, status: 'completed' }, { truncated: true });
    const stored = parseEntries((await client.xrange(keys.events('thr_c'), '-', '+')) as [string, string[]][]);
    const updates = stored.filter((e) => e.event.type === 'item.updated').map((e) => (e.event as { item: { output_delta: string; output_truncated?: boolean } }).item);
    const liveBytes = updates.reduce((n, u) => n + Buffer.byteLength(u.output_delta.replace(/\n\[\.\.\. output truncated[^\]]*\]\n/, '')), 0);
    assert.ok(liveBytes <= caps.itemBytes, `${liveBytes} live bytes`);
    assert.ok(!updates.some((u) => u.output_delta.includes('\ufffd')), 'no split character');
    assert.equal(updates.at(-1)!.output_truncated, true);
    assert.match(updates.at(-1)!.output_delta, /output truncated: the item output cap was reached/);
    const done = stored.at(-1)!.event as { type: string; item: { aggregated_output: string; output_truncated?: boolean } };
    assert.equal(done.type, 'item.completed');
    assert.equal(done.item.output_truncated, true);
    assert.match(done.item.aggregated_output, /^z+\n\[\.\.\. output truncated: the turn output cap was reached \.\.\.\]\nz+$/);
    assert.ok(Buffer.byteLength(done.item.aggregated_output) <= caps.turnBytes - liveBytes);
  });

  test("the thread's cap holds over turns (a counter in Redis)", async () => {
    const client = redis.client();
    const caps = { itemBytes: 4096, turnBytes: 4096, threadBytes: 6000 };
    for (const turn of ['turn_1', 'turn_2', 'turn_3']) {
      const events = itemEvents(client, 'thr_l', turn, 10, caps);
      const item = { id: `item_${turn}`, type: 'command_execution' as const, command: 'x', aggregated_output: 'y'.repeat(4096), exit_code: 0, status: 'completed' as const };
      await events.completedCommand(item);
    }
    const stored = parseEntries((await client.xrange(keys.events('thr_l'), '-', '+')) as [string, string[]][]);
    const outputs = stored.map((e) => (e.event as { item: { aggregated_output: string } }).item.aggregated_output);
    assert.equal(outputs[0], 'y'.repeat(4096));
    assert.match(outputs[1]!, /thread output cap/);
    assert.ok(Buffer.byteLength(outputs[1]!) <= 6000 - 4096 + 80);
    assert.equal(outputs[2]!.replace(/y/g, ''), outputs[2]!, 'nothing left for the third turn');
    assert.equal(Number(await client.get(keys.threadOutputBytes('thr_l'))), 6000);
  });
});
