// The `paddock` CLI against a real cluster (real Redis, Docker, services; the fake model only):
// exec --json prints nothing but parseable events, exec on a terminal (tmux) shows the command, its
// output tail and the summary, answers an approval inline, Ctrl-C interrupts the turn on the server;
// run, login (0600), whoami, tokens, usage errors (exit 2) and a wrong token (one line, exit 1).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ScriptedReply } from '@paddock/testing';
import { apiOf, type Cluster, newWorkspace, startCluster } from './cluster.ts';
import { runCli, TmuxSession } from './support/cli-driver.ts';

let c: Cluster;
let call: ReturnType<typeof apiOf>;
let ws: { id: string; owner: string };
let env: Record<string, string>;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'paddock-cli-'));
  dirs.push(d);
  return d;
};

const shell = (command: string[], extra: Record<string, unknown> = {}): ScriptedReply => ({
  kind: 'tool_call',
  name: 'shell',
  arguments: { command, ...extra },
});

const EVENT_TYPES = new Set(['thread.started', 'turn.started', 'turn.completed', 'turn.failed', 'item.started', 'item.updated', 'item.completed']);

before(async () => {
  c = await startCluster('e2e-cli');
  call = apiOf(c);
  c.guardianModel.setHandler(() => ({
    kind: 'json',
    value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' },
  }));
  ws = await newWorkspace(c, 'cli');
  const e = await call('POST', '/v1/environments', ws.owner, { name: 'default', image: c.image });
  assert.equal(e.status, 201, JSON.stringify(e.json));
  env = { PADDOCK_URL: c.apiUrl, PADDOCK_TOKEN: ws.owner, PADDOCK_CONFIG_DIR: tempDir(), HOME: tempDir() };
});
after(async () => {
  await c?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('paddock exec', () => {
  test('--json: every line is one event of the stream, ending with the turn; exit 0', async () => {
    c.agentModel.script(shell(['bash', '-c', 'echo from-the-sandbox']), { kind: 'text', text: 'Done.' });
    const r = await runCli(['exec', '--json', 'say hello'], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    const events = lines.map((l) => JSON.parse(l) as { type: string; item?: { type: string; aggregated_output?: string } });
    for (const e of events) assert.ok(EVENT_TYPES.has(e.type), `not an event: ${JSON.stringify(e)}`);
    assert.deepEqual(events.slice(0, 2).map((e) => e.type), ['thread.started', 'turn.started']);
    assert.equal(events.at(-1)!.type, 'turn.completed');
    const cmd = events.find((e) => e.type === 'item.completed' && e.item?.type === 'command_execution');
    assert.equal(cmd?.item?.aggregated_output, 'from-the-sandbox\n');
    assert.ok(events.some((e) => e.type === 'item.completed' && e.item?.type === 'agent_message'));
  });

  test('--json --codex: the Codex view, streamed live (a command shows before the model has answered again)', async () => {
    // The model's second answer waits until the CLI has printed the command: a buffered stream would never release it.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let sawCommandLive = false;
    c.agentModel.setHandler(async (req) => {
      const body = req.body as { messages?: { role: string }[]; input?: { type: string }[] };
      const answered = (body.messages ?? []).some((m) => m.role === 'tool') || (body.input ?? []).some((i) => i.type === 'function_call_output');
      if (!answered) return shell(['bash', '-c', 'echo codex-live']);
      await Promise.race([released, new Promise((r) => setTimeout(r, 60_000))]);
      return { kind: 'text', text: 'Done live.' };
    });
    try {
      const r = await runCli(['exec', '--json', '--codex', 'stream it'], env, {
        onStdout: (stdout) => {
          if (!sawCommandLive && /"type":"item\.completed".*"command_execution".*codex-live/.test(stdout)) {
            sawCommandLive = true;
            release();
          }
        },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(sawCommandLive, 'the command_execution item was printed while the turn still ran');
      const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; item?: { type: string; aggregated_output?: string; text?: string } });
      const codexItemTypes = new Set(['agent_message', 'reasoning', 'command_execution', 'file_change', 'mcp_tool_call', 'web_search', 'todo_list', 'error']);
      for (const e of events) {
        assert.ok(EVENT_TYPES.has(e.type), `not a Codex event: ${JSON.stringify(e)}`);
        if (e.item) assert.ok(codexItemTypes.has(e.item.type), `not a Codex item (review/approval are Paddock's): ${JSON.stringify(e)}`);
      }
      assert.deepEqual(events.slice(0, 2), [{ type: 'thread.started', thread_id: (events[0] as { thread_id?: string }).thread_id }, { type: 'turn.started' }]);
      assert.equal(events.at(-1)!.type, 'turn.completed');
      assert.deepEqual(Object.keys((events.at(-1) as { usage?: object }).usage ?? {}).sort(), ['cached_input_tokens', 'input_tokens', 'output_tokens']);
      assert.equal(events.find((e) => e.item?.type === 'command_execution' && e.type === 'item.completed')?.item?.aggregated_output, 'codex-live\n');
      assert.equal(events.find((e) => e.item?.type === 'agent_message')?.item?.text, 'Done live.');
      // --codex chooses what --json prints: alone it is a usage error.
      assert.equal((await runCli(['exec', '--codex', 'x'], env)).code, 2);
    } finally {
      c.agentModel.setHandler(undefined);
    }
  });

  test('on a terminal: the running command, its output tail, and the summary', async () => {
    c.agentModel.script(
      shell(['bash', '-c', 'for i in 1 2 3 4 5 6 7; do echo "row-$i"; done; echo TAIL-MARK']),
      { kind: 'text', text: 'Printed the rows.' },
    );
    const t = new TmuxSession(['exec', 'print some rows'], env);
    try {
      const screen = await t.waitFor(/EXIT=\d+/);
      assert.match(screen, /\$ bash -c .*row-\$i/, 'the command');
      assert.match(screen, /│ TAIL-MARK/, 'the output tail');
      assert.doesNotMatch(screen, /│ row-1\n/, 'only the tail of the output');
      assert.match(screen, /Printed the rows\./, "the agent's message");
      assert.match(screen, /✓ turn completed/, 'the summary');
      assert.match(screen, /1 command/);
      assert.match(screen, /changed files/);
      assert.match(screen, /EXIT=0/);
    } finally {
      t.close();
    }
  });

  test('on a terminal: an approval request is answered inline', async () => {
    c.agentModel.script(
      shell(['bash', '-c', 'echo escalated > "$HOME/outside.txt" && cat "$HOME/outside.txt"'], {
        with_escalated_permissions: true,
        justification: 'write a marker outside the workspace',
      }),
      { kind: 'text', text: 'Wrote the marker.' },
    );
    const t = new TmuxSession(
      ['exec', '-c', 'sandbox_mode=workspace-write', '-c', 'approval_policy=on-request', '-c', 'approvals_reviewer=user', 'write the marker'],
      env,
    );
    try {
      const asked = await t.waitFor(/approve\? \[y\]es/);
      assert.match(asked, /approval requested: run: .*outside\.txt/);
      t.keys('y', 'Enter');
      const screen = await t.waitFor(/EXIT=\d+/);
      assert.match(screen, /approval approved/);
      assert.match(screen, /│ escalated/, 'the approved command ran');
      assert.match(screen, /✓ turn completed/);
      assert.match(screen, /EXIT=0/);
    } finally {
      t.close();
    }
  });

  test('Ctrl-C interrupts the turn on the server; exit 1', async () => {
    c.agentModel.script(shell(['sleep', '300']), { kind: 'text', text: 'never' });
    const t = new TmuxSession(['exec', 'sleep for a long time'], env);
    try {
      const running = await t.waitFor(/running \$ sleep 300/);
      const [, threadId, turnId] = /thread (thr_\S+) · turn (turn_\S+)/.exec(running) ?? [];
      assert.ok(threadId && turnId, running);
      t.keys('C-c');
      const screen = await t.waitFor(/EXIT=\d+/);
      assert.match(screen, /interrupting turn/);
      assert.match(screen, /✗ turn interrupted/);
      assert.match(screen, /EXIT=1/);
      const turn = await call('GET', `/v1/threads/${threadId}/turns/${turnId}`, ws.owner);
      assert.equal(turn.json.status, 'interrupted', JSON.stringify(turn.json));
    } finally {
      t.close();
    }
  });
});

describe('paddock run and the other commands', () => {
  test('run -- CMD: a scripted turn, its output printed, exit 0', async () => {
    const r = await runCli(['run', '--', 'bash', '-c', 'echo scripted-ok'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\$ bash -c 'echo scripted-ok'|\$ bash -c echo scripted-ok/);
    assert.match(r.stdout, /│ scripted-ok/);
    assert.match(r.stdout, /✓ turn completed/);
  });

  test('a wrong token: one line naming what to fix, exit 1', async () => {
    const r = await runCli(['whoami'], { ...env, PADDOCK_TOKEN: 'pdk_not_a_token' });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^paddock: the token was refused .*paddock login/);
  });

  test('usage errors exit 2; --help exits 0 on every command', async () => {
    assert.equal((await runCli(['exec'], env)).code, 2);
    assert.equal((await runCli(['no-such-command'], env)).code, 2);
    assert.equal((await runCli(['exec', '-c', 'novalue', 'x'], env)).code, 2);
    for (const args of [['--help'], ['exec', '--help'], ['approvals', 'deny', '--help'], ['tokens', 'create', '--help']]) {
      const r = await runCli(args, env);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /Usage: paddock/);
    }
    const completion = await runCli(['completion', 'bash'], env);
    assert.match(completion.stdout, /complete -F _paddock paddock/);
    assert.match(completion.stdout, /approve-for-thread/);
  });

  test('login reads the token from stdin, checks it, saves it 0600; whoami uses it', async () => {
    const configDir = tempDir();
    const loginEnv = { PADDOCK_CONFIG_DIR: configDir, HOME: tempDir() };
    const bad = await runCli(['login', '--url', c.apiUrl], loginEnv, { input: 'pdk_wrong\n' });
    assert.equal(bad.code, 1);
    assert.throws(() => statSync(join(configDir, 'config.json')), 'a refused token is not saved');
    const r = await runCli(['login', '--url', c.apiUrl], loginEnv, { input: `${ws.owner}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(ws.owner) && !r.stderr.includes(ws.owner), 'the token is never echoed');
    const file = join(configDir, 'config.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).token, ws.owner);
    const me = await runCli(['whoami', '--json'], loginEnv);
    assert.equal(me.code, 0, me.stderr);
    assert.equal(JSON.parse(me.stdout).workspace_id, ws.id);
    // Another workspace's token speaks for that workspace only.
    const other = await newWorkspace(c, 'cli-other');
    const them = await runCli(['whoami', '--json'], { ...loginEnv, PADDOCK_TOKEN: other.owner });
    assert.equal(JSON.parse(them.stdout).workspace_id, other.id);
  });

  test('tokens create, list, revoke; a revoked token is refused', async () => {
    const created = await runCli(['tokens', 'create', 'ci', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const token = JSON.parse(created.stdout) as { id: string; secret: string };
    const list = await runCli(['tokens', 'list'], env);
    assert.match(list.stdout, new RegExp(`${token.id}\\s+ci`));
    assert.equal((await runCli(['whoami'], { ...env, PADDOCK_TOKEN: token.secret })).code, 0);
    assert.equal((await runCli(['tokens', 'revoke', token.id], env)).code, 0);
    const refused = await runCli(['whoami'], { ...env, PADDOCK_TOKEN: token.secret });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /token was refused/);
  });

  test('workspaces create with the operator key; denials of a thread', async () => {
    const noKey = await runCli(['workspaces', 'create', 'w2', '--owner', 'o@w2.test'], env);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /PADDOCK_OPERATOR_KEY/);
    const threads = await call('POST', '/v1/threads', ws.owner, {
      environment_id: (await call('GET', '/v1/environments', ws.owner)).json.items[0].id,
    });
    const denials = await runCli(['denials', threads.json.id], env);
    assert.equal(denials.code, 0, denials.stderr);
    assert.match(denials.stdout, /no denials/);
    const notMine = await runCli(['denials', threads.json.id], { ...env, PADDOCK_TOKEN: (await newWorkspace(c, 'cli-third')).owner });
    assert.equal(notMine.code, 1);
    assert.match(notMine.stderr, /not found/);
  });
});
