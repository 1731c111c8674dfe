// The README's quick start, verbatim, on a fresh clone: its commands are read from the README block
// and run in order (the clone's URL swapped for this repository, `npm start` in the background with
// free ports and the fake model as OPENAI_BASE_URL). Shows first start's three lines, the first agent
// task completing and `paddock diff` showing its change. Needs the diff route (GET /v1/threads/{id}/diff).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '@paddock/platform';
import { ensureDocker, type FakeModel, freePort, type RecordedRequest, removeLabeled, type ScriptedReply, startFakeModel, testRun, waitFor } from '@paddock/testing';

const run = testRun('cli-quickstart');
const work = mkdtempSync(join(tmpdir(), 'paddock-quickstart-'));
let cluster: ChildProcess | undefined;
let model: FakeModel | undefined;
after(async () => {
  const running = () => cluster?.exitCode === null && cluster.signalCode === null;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-cluster!.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  if (cluster?.pid && running()) {
    signalGroup('SIGTERM');
    await waitFor(() => !running(), 40_000, 'npm start to stop').catch(() => signalGroup('SIGKILL'));
  }
  await model?.close();
  await removeLabeled(await ensureDocker(), run.runId);
  rmSync(work, { recursive: true, force: true });
});

/** The commands of the README's quick-start block, comments stripped. */
export function quickStartCommands(readme: string): string[] {
  const block = /<!-- quick-start[^>]*-->\s*```sh\n([\s\S]*?)```\s*<!-- \/quick-start -->/.exec(readme)?.[1];
  assert.ok(block, 'the README has a quick-start block');
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** `bash -c command` to its end (bounded), without blocking this process's event loop. */
function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (status) => {
      clearTimeout(timer);
      done({ status, stdout, stderr });
    });
  });
}

/** The agent writes hello.txt, then answers; a review (no tools offered) is allowed. */
function fakeModel(req: RecordedRequest): ScriptedReply {
  const body = req.body as { tools?: unknown[]; messages?: { role: string }[]; input?: { type: string }[] };
  if (!body.tools?.length) {
    return { kind: 'json', value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'routine' } };
  }
  const answered = (body.messages ?? []).some((m) => m.role === 'tool') || (body.input ?? []).some((i) => i.type === 'function_call_output');
  return answered
    ? { kind: 'text', text: 'Created hello.txt.' }
    : { kind: 'tool_call', name: 'shell', arguments: { command: ['bash', '-c', 'echo hello > hello.txt'] } };
}

test('the README quick start, verbatim, from a fresh clone to the first task’s diff', async () => {
  const commands = quickStartCommands(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  assert.ok(commands.length <= 5, `at most five commands, got ${commands.length}`);
  const [clone, start, ...rest] = commands;
  const cloneMatch = /^git clone (\S+) (\S+) && cd (\S+)$/.exec(clone!);
  assert.ok(cloneMatch && cloneMatch[2] === cloneMatch[3], `first: git clone URL DIR && cd DIR, got ${clone}`);
  assert.equal(start, 'npm start');

  // 1. The clone, of this repository's committed state; its dependencies are this checkout's (no registry).
  const dir = join(work, cloneMatch[2]!);
  const cloned = spawnSync('git', ['clone', '-q', REPO_ROOT, dir], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(cloned.status, 0, cloned.stderr);
  const workspaces = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  for (const ws of ['.', ...workspaces]) {
    if (existsSync(join(REPO_ROOT, ws, 'node_modules'))) symlinkSync(join(REPO_ROOT, ws, 'node_modules'), join(dir, ws, 'node_modules'));
  }

  model = await startFakeModel();
  model.setHandler(fakeModel);
  const configDir = join(work, 'config');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PADDOCK_SKIP_SETUP: '1',
    PADDOCK_CONFIG_DIR: configDir,
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: 'sk-quickstart',
    PADDOCK_SANDBOX_SCOPE: Object.entries(run.labels).map(([k, v]) => `${k}=${v}`).join(','),
  };
  for (const k of ['PADDOCK_OPERATOR_KEY', 'PADDOCK_CONFIG', 'PADDOCK_REDIS_URL', 'PADDOCK_DATA_DIR', 'PADDOCK_URL', 'PADDOCK_TOKEN', 'PADDOCK_GUARDIAN_MODEL_BASE_URL'])
    delete env[k];
  for (const k of ['PADDOCK_LOCAL_REDIS_PORT', 'PADDOCK_ORCHESTRATOR_PORT', 'PADDOCK_ORCHESTRATOR_METRICS_PORT', 'PADDOCK_GUARDIAN_PORT', 'PADDOCK_EGRESS_PROXY_PORT', 'PADDOCK_SANDBOX_WORKER_PORT'])
    env[k] = String(await freePort());

  // 2. npm start, in the background (its own process group, stopped at the end).
  let output = '';
  cluster = spawn('bash', ['-c', start!], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  cluster.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  cluster.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  await waitFor(() => /\[paddock\] model: /.test(output) || cluster?.exitCode !== null, 120_000, 'npm start').catch((err) => {
    throw new Error(`${(err as Error).message}\n${output}`);
  });
  assert.equal(cluster.exitCode, null, `npm start stopped:\n${output}`);
  const apiUrl = `http://127.0.0.1:${env['PADDOCK_ORCHESTRATOR_PORT']}`;
  // The three lines: the URL, the next command (the README's), whether a model answered.
  assert.match(output, new RegExp(`\\[paddock\\] cluster is up · API: ${apiUrl.replaceAll('.', '\\.')}/v1`));
  assert.ok(output.includes(`[paddock] next: ${rest[0]}`), `the next command is the README's:\n${output}`);
  assert.match(output, /\[paddock\] model: \S+ at http:\/\/127\.0\.0\.1:\d+\/v1 answered/);
  // First start's secrets and the CLI login are owner-only.
  assert.equal(statSync(join(dir, '.paddock', 'operator-key')).mode & 0o777, 0o600);
  assert.equal(statSync(join(configDir, 'config.json')).mode & 0o777, 0o600);
  assert.equal(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')).url, apiUrl);

  // 3. The remaining commands, verbatim, in the clone.
  const results = [];
  for (const command of rest) {
    // Asynchronously: the fake model answers from this process, so it must not be blocked.
    const r = await runShell(command, dir, env, 180_000);
    if (r.status !== 0) {
      // What the cluster said and what the thread holds, to see why.
      const login = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as { token: string; last_thread?: string };
      const events = login.last_thread
        ? await (await fetch(`${apiUrl}/v1/threads/${login.last_thread}/events?format=jsonl`, { headers: { authorization: `Bearer ${login.token}` } })).text()
        : '';
      assert.fail(`${command} exited ${r.status}\n${r.stdout}\n${r.stderr}\n--- events ---\n${events}\n--- cluster ---\n${output.slice(-4000)}`);
    }
    results.push(r);
  }
  const [exec, diff] = results;
  assert.match(exec!.stdout, /✓ turn completed/);
  assert.match(diff!.stdout, /^\+\+\+ b\/hello\.txt$/m, diff!.stdout);
  assert.match(diff!.stdout, /^\+hello$/m);
});
