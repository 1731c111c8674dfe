// The worker's job (`RunTurn`): claims the thread's sandbox (the environment's image; the setup
// script once per sandbox, before the agent phase, refused whole when a forbidden rule matches it), points the egress proxy at this turn's policy, and runs the turn's scripted `commands` or
// its agent loop (`input`) — both through the same gate (classification, review, breaker) — and
// fills the turn's measures (tokens, the sandbox's CPU and egress across the turn, output bytes).
import type { ModelProviders } from '@paddock/config';
import type { Command, GuardianClient, TranscriptItem } from '@paddock/contracts';
import type { RunTurn, TurnOutcome } from '@paddock/turn-queue';
import { checkSetupScript } from '../command-policy/classify.ts';
import { keys, sandboxKeys } from '@paddock/contracts';
import type { Redis } from 'ioredis';
import type { SandboxShape } from '../container-spec.ts';
import type { Sandbox } from '../sandbox.ts';
import type { SandboxManager } from '../sandbox-manager.ts';
import { ActionGate, BreakerTripped } from './action-gate.ts';
import { runAgentLoop } from './agent-loop.ts';
import { runCommand } from './command-runner.ts';
import { itemEvents, type OutputCaps } from './item-events.ts';
import { egressSettings, execNetwork } from './turn-config.ts';
import { readSandboxCounters, usedBetween } from './turn-meter.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { checkoutIntoSandbox } from '../repo/checkout.ts';
import { planCheckout, type RepositorySettings } from '../repo/repo-policy.ts';
import { TurnChanges } from '../changes/turn-changes.ts';
import { runApplyPatch } from '../changes/patch-tool.ts';
import { WorkspaceGit } from '../changes/workspace-git.ts';
import { SANDBOX_UID_GID } from '../workspace-disk.ts';

export type TurnEngineOptions = {
  manager: SandboxManager;
  guardian: GuardianClient;
  defaultShape: SandboxShape;
  /** Guardian budget per review. */
  reviewDeadlineMs: number;
  /** How long a `user` review waits for a person before the action is aborted (timed_out). */
  approvalTimeoutMs: number;
  /** item.updated of a command's output at most this often. */
  outputThrottleMs: number;
  /** Command output kept in the thread's events; unset: the defaults. */
  outputCaps?: OutputCaps;
  setupTimeoutMs: number;
  /** The cluster file's model providers: the only endpoints the agent loop calls. */
  modelProviders: ModelProviders;
  env?: NodeJS.ProcessEnv;
  /** The engine the sandboxes run on: a repository checkout is streamed into the workspace through it. */
  docker?: Docker;
  /** [sandbox_worker] repository hosts and credentials; unset: no repository may be checked out. */
  repositories?: RepositorySettings;
  /** The worker's data dir: the repository mirror cache lives under it (unset: the OS temp dir). */
  dataDir?: string;
};

const NO_REPOSITORIES: RepositorySettings = { hosts: [], credentials: {}, checkoutTimeoutMs: 300_000, diffMaxBytes: 1024 * 1024 };

/** Transcript items the guardian sees at most (the newest). */
const TRANSCRIPT_MAX_ITEMS = 40;

export function createTurnRunner(o: TurnEngineOptions): RunTurn {
  return async (job, { signal, redis, measures }) => {
    const shape: SandboxShape =
      job.environment.image && job.environment.image !== o.defaultShape.image
        ? { ...o.defaultShape, image: job.environment.image }
        : o.defaultShape;
    const ref = { workspace: job.workspace_id, thread: job.thread_id };
    const { sandbox } = await o.manager.forThread(ref, { shape, egress: egressSettings(job.config) });
    // The workspace's own idle retention (a requirement lowered the cluster's): the reaper reads it
    // from the record; absent, the field goes (a requirement lifted since applies at once).
    if (job.workspace_retention_ms !== undefined)
      await redis.hset(sandboxKeys.sandbox(sandbox.id), 'retentionMs', String(job.workspace_retention_ms));
    else await redis.hdel(sandboxKeys.sandbox(sandbox.id), 'retentionMs');
    const events = itemEvents(redis, job.thread_id, job.turn_id, o.outputThrottleMs, o.outputCaps);
    // The turn's usage: the sandbox's CPU and egress counters across it, and its granted output bytes.
    const countersAtStart = await readSandboxCounters(redis, sandbox);
    try {
      return await runInSandbox(o, job, { signal, redis, sandbox, events, measures });
    } finally {
      const used = usedBetween(countersAtStart, await readSandboxCounters(redis, sandbox));
      measures.sandbox_cpu_ms += used.cpuMs;
      measures.egress_bytes += used.egressBytes;
      measures.output_bytes += events.turnOutputBytes;
    }
  };
}

async function runInSandbox(
  o: TurnEngineOptions,
  job: Parameters<RunTurn>[0],
  t: {
    signal: AbortSignal;
    redis: Redis;
    sandbox: Sandbox;
    events: ReturnType<typeof itemEvents>;
    measures: Parameters<RunTurn>[1]['measures'];
  },
): Promise<TurnOutcome> {
  const { signal, redis, sandbox, events, measures } = t;
  const checkout = await checkoutOnce(o, redis, sandbox, job, signal);
  if (checkout) return checkout;
  const setup = await runSetupOnce(o, redis, sandbox, job, signal, events);
  if (setup) return setup;
  const repos = o.repositories ?? NO_REPOSITORIES;
  const git = new WorkspaceGit(
    (req) => o.manager.exec(sandbox, req, undefined, { turnId: job.turn_id, signal }),
    { bigFileBytes: Math.max(1024, Math.floor(repos.diffMaxBytes / 10)), changedSince: (ms) => sandbox.workTreeChangedSince(ms) },
  );
  const changes = new TurnChanges(git, {
    redis,
    events,
    threadId: job.thread_id,
    turnId: job.turn_id,
    diffMaxBytes: repos.diffMaxBytes,
  });
  await changes.start();
  const outcome = await runActions(o, job, t, changes);
  // The workspace changed whatever the outcome: the diff and the counts are recorded either way.
  const summary = await changes.finish().catch(async (err: Error) => {
    await events.completed({ id: events.newItemId(), type: 'error', message: `the turn's changes were not recorded: ${err.message}` });
    return undefined;
  });
  if (summary) measures.files_changed = summary.count;
  return outcome.status === 'completed' && summary ? { ...outcome, changes: summary } : outcome;
}

async function runActions(
  o: TurnEngineOptions,
  job: Parameters<RunTurn>[0],
  t: {
    signal: AbortSignal;
    redis: Redis;
    sandbox: Sandbox;
    events: ReturnType<typeof itemEvents>;
    measures: Parameters<RunTurn>[1]['measures'];
  },
  changes: TurnChanges,
): Promise<TurnOutcome> {
  const { signal, redis, sandbox, events, measures } = t;

  const transcript: TranscriptItem[] = [];
  const gate = new ActionGate({
    redis,
    guardian: o.guardian,
    events,
    job,
    transcript: () => transcript.slice(-TRANSCRIPT_MAX_ITEMS),
    reviewDeadlineMs: o.reviewDeadlineMs,
    approvalTimeoutMs: o.approvalTimeoutMs,
    signal,
  });
  const runShell = async (spec: Parameters<typeof runCommand>[0]['spec']) => {
    const r = await runCommand({ redis, manager: o.manager, sandbox, gate, events, job, spec, signal });
    if (r.ran) await changes.afterAction();
    return r;
  };
  try {
    if (job.commands && job.commands.length > 0) {
      transcript.push({ role: 'user', content: `scripted turn of ${job.commands.length} commands` });
      for (const [i, command] of job.commands.entries()) {
        if (signal.aborted) break;
        const r = await runShell(commandSpec(command, i));
        transcript.push({ role: 'tool', content: r.forModel.slice(0, 2000) });
      }
      return { status: 'completed' };
    }
    const outcome = await runAgentLoop({
      redis,
      job: { ...job, input: job.input ?? '' },
      events,
      transcript,
      runShell,
      applyPatch: (input) =>
        runApplyPatch(
          {
            exec: (req) => o.manager.exec(sandbox, req, undefined, { turnId: job.turn_id, signal }),
            gate,
            events,
            changes,
            config: job.config,
            transcript,
          },
          input,
        ),
      signal,
      modelProviders: o.modelProviders,
      env: o.env,
    });
    // A failed loop's tokens were still used: the consumer records them (completed: from usage).
    measures.input_tokens += outcome.usage.input_tokens;
    measures.cached_input_tokens += outcome.usage.cached_input_tokens ?? 0;
    measures.output_tokens += outcome.usage.output_tokens;
    return outcome.status === 'completed'
      ? { status: 'completed', usage: outcome.usage }
      : { status: 'failed', error: outcome.error };
  } catch (err) {
    if (err instanceof BreakerTripped) return { status: 'failed', error: { code: err.code, message: err.message } };
    throw err;
  }
}

export function commandSpec(c: Command, index: number) {
  const argv = c.argv ?? ['bash', '-lc', c.cmd ?? 'true'];
  return {
    id: `cmd-${index}`,
    argv,
    cwd: c.cwd ?? '/workspace',
    ...(c.timeout_ms ? { timeoutMs: c.timeout_ms } : {}),
    ...(c.escalate ? { escalate: { justification: c.escalate.justification } } : {}),
  };
}

/**
 * The environment's repository, checked out by the worker into the workspace once per sandbox
 * (before the setup script); a refusal or failure ends the turn naming the repository and why.
 */
async function checkoutOnce(
  o: TurnEngineOptions,
  redis: Redis,
  sandbox: Sandbox,
  job: Parameters<RunTurn>[0],
  signal: AbortSignal,
): Promise<TurnOutcome | undefined> {
  const spec = job.environment.repository;
  if (!spec) return undefined;
  const recordKey = sandboxKeys.sandbox(sandbox.id);
  if ((await redis.hget(recordKey, 'repositoryDone')) === '1') return undefined;
  const repos = o.repositories ?? NO_REPOSITORIES;
  const failed = (reason: string): TurnOutcome => ({
    status: 'failed',
    error: { code: 'checkout_failed', message: `the repository ${spec.url} could not be checked out: ${reason}` },
  });
  if (!o.docker) return failed('this worker has no repository checkouts');
  let plan;
  try {
    plan = planCheckout(spec, repos, o.env ?? process.env);
  } catch (err) {
    return failed((err as Error).message);
  }
  const budget = AbortSignal.any([signal, AbortSignal.timeout(repos.checkoutTimeoutMs)]);
  let commit: string;
  try {
    ({ commit } = await checkoutIntoSandbox({
      docker: o.docker,
      containerId: sandbox.containerId,
      cacheDir: join(o.dataDir ?? tmpdir(), 'repo-mirrors'),
      plan,
      uidGid: SANDBOX_UID_GID,
      signal: budget,
    }));
  } catch (err) {
    if (signal.aborted) throw err;
    return failed(budget.aborted ? `timed out after ${repos.checkoutTimeoutMs} ms` : (err as Error).message);
  }
  // The base the thread's diffs are taken against: what the worker checked out, not what a ref says later.
  await redis.hset(keys.threadDiffs(job.thread_id), 'base_commit', commit);
  await redis.hset(recordKey, 'repositoryDone', '1');
  return undefined;
}

/** The environment's setup script, once per sandbox (a sandbox record field marks it done). */
async function runSetupOnce(
  o: TurnEngineOptions,
  redis: Redis,
  sandbox: Sandbox,
  job: Parameters<RunTurn>[0],
  signal: AbortSignal,
  events: ReturnType<typeof itemEvents>,
): Promise<TurnOutcome | undefined> {
  const script = job.environment.setup_script;
  if (!script.trim()) return undefined;
  const recordKey = sandboxKeys.sandbox(sandbox.id);
  if ((await redis.hget(recordKey, 'setupDone')) === '1') return undefined;
  const id = events.newItemId();
  const base = { id, type: 'command_execution' as const, command: 'environment setup script', exit_code: null };
  await events.started({ ...base, aggregated_output: '', status: 'in_progress' });
  // The same forbidden rules as every command: a script that names a forbidden one runs not at all.
  const allowed = checkSetupScript(script, job.config.rules);
  if (!allowed.ok) {
    const message = `the environment setup script was refused: ${allowed.reason}; nothing of it ran`;
    await events.completed({ ...base, aggregated_output: message, status: 'declined' });
    return { status: 'failed', error: { code: 'setup_forbidden', message } };
  }
  const r = await o.manager.exec(
    sandbox,
    {
      argv: ['bash', '-c', script],
      cwd: '/workspace',
      mode: 'workspace-write',
      network: execNetwork(job.config, false),
      timeoutMs: o.setupTimeoutMs,
    },
    undefined,
    { turnId: job.turn_id, signal },
  );
  const output = r.stdout.text + r.stderr.text;
  const ok = r.exitCode === 0 && !r.timedOut;
  // Under the same output budgets as every command: the item, the turn and the thread stream.
  await events.completedCommand(
    { ...base, aggregated_output: output, exit_code: r.exitCode, status: ok ? 'completed' : 'failed' },
    { truncated: r.stdout.omittedBytes > 0 || r.stderr.omittedBytes > 0 },
  );
  if (!ok) {
    return {
      status: 'failed',
      error: { code: 'setup_failed', message: `the environment setup script failed (exit ${r.exitCode ?? 'none'}${r.timedOut ? ', timed out' : ''})` },
    };
  }
  await redis.hset(recordKey, 'setupDone', '1');
  return undefined;
}
