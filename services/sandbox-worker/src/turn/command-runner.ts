// Runs one action of a turn (a scripted command or the model's shell call) through the gate, and,
// when it may run, in the thread's sandbox: the command's id is recorded in Redis before it starts
// (HSETNX), so an attempt that finds its id already there never runs it a second time; its result is
// recorded when it ends, so a resumed turn gets it back, and an id without a result is reported as
// an unknown outcome (not run again).
import { basename } from 'node:path';
import { inSpan, paddockTracer } from '@paddock/platform';
import type { EffectiveConfig } from '@paddock/config';
import type { ExecRequest as ClassifyRequest } from '../command-policy/classify.ts';
import { keys } from '@paddock/contracts';
import { handedOver } from '@paddock/turn-queue';
import type { Redis } from 'ioredis';
import type { Sandbox } from '../sandbox.ts';
import type { SandboxManager } from '../sandbox-manager.ts';
import { type ActionGate, BreakerTripped } from './action-gate.ts';
import type { ItemEvents } from './item-events.ts';
import { execMode, execNetwork } from './turn-config.ts';

export type CommandSpec = ClassifyRequest & { id: string; timeoutMs?: number };

export type CommandResult = {
  ran: boolean;
  exitCode: number | null;
  /** What the model is told: the output, or why the command did not run. */
  forModel: string;
  /** An earlier attempt of the turn started it and its outcome was never recorded. */
  outcomeUnknown?: boolean;
};

/** What the model (and the item) is told of a command an earlier attempt started but never finished. */
export const OUTCOME_UNKNOWN_MESSAGE =
  'outcome unknown: this command was started by an earlier attempt of this turn, whose worker stopped ' +
  'before the result was recorded; it may have run in full, in part or not at all. It was not run again.';

const tracer = paddockTracer('sandbox-worker');

/** Most output handed back to the model per command (the event carries the exec's own capped output). */
const MODEL_OUTPUT_MAX_CHARS = 16 * 1024;
/** How long the record of a turn's started commands is kept. */
const COMMANDS_TTL_S = 7 * 86_400;

/**
 * The kernel's OOM killer took the command: the sandbox cgroup's oom_kill counter moved while it
 * ran (the agent reads it; Docker's OOMKilled stays false for an exec) and the command died of
 * SIGKILL (exit 137). Both, because a concurrent exec's OOM kill also moves the counter.
 */
export function killedOutOfMemory(r: { oomKilled: boolean; exitCode: number | null; signal: string | null }): boolean {
  return r.oomKilled && (r.exitCode === 137 || r.signal === 'SIGKILL');
}

export function oomMessage(memoryLimitMb: number | undefined): string {
  return `killed: out of memory${memoryLimitMb ? ` (limit ${memoryLimitMb} MiB)` : ''}`;
}

export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

function clip(text: string): string {
  if (text.length <= MODEL_OUTPUT_MAX_CHARS) return text;
  const half = MODEL_OUTPUT_MAX_CHARS / 2;
  return `${text.slice(0, half)}\n[... ${text.length - MODEL_OUTPUT_MAX_CHARS} chars omitted ...]\n${text.slice(-half)}`;
}

type RunCommandDeps = {
  redis: Redis;
  manager: SandboxManager;
  sandbox: Sandbox;
  gate: ActionGate;
  events: ItemEvents;
  job: { turn_id: string; config: EffectiveConfig };
  spec: CommandSpec;
  signal: AbortSignal;
};

/**
 * One action as a span of the turn's trace: its review and its proxy decisions are children. The
 * span names the program only (arguments can hold secrets; the thread's events have the command).
 */
export function runCommand(d: RunCommandDeps): Promise<CommandResult> {
  const program = basename(d.spec.argv[0] ?? '');
  return inSpan(tracer, 'turn.action', { attributes: { 'paddock.action': 'exec', 'paddock.command.program': program } }, async (span) => {
    const startedAt = new Date().toISOString();
    const r = await gateAndRun(d);
    // The proxy's guardian denials of this command's requests count toward the breaker too.
    if (r.ran) await d.gate.countNetworkDenials(startedAt);
    span.setAttribute('paddock.action.ran', r.ran);
    if (r.exitCode !== null) span.setAttribute('paddock.action.exit_code', r.exitCode);
    return r;
  });
}

async function gateAndRun(d: RunCommandDeps): Promise<CommandResult> {
  const { spec, events } = d;
  const commandsKey = keys.turnCommands(d.job.turn_id);
  const resultField = `${spec.id}:result`;
  const recordResult = async (r: CommandResult) => {
    await d.redis
      .multi()
      .hset(commandsKey, resultField, JSON.stringify(r), `${spec.id}:done`, new Date().toISOString())
      .expire(commandsKey, COMMANDS_TTL_S)
      .exec()
      .catch(() => undefined);
    return r;
  };
  // A resumed turn: what an earlier attempt did with this id stands (no second review, no second run).
  const [startedRaw, resultRaw] = await d.redis.hmget(commandsKey, spec.id, resultField);
  if (resultRaw) return JSON.parse(resultRaw) as CommandResult;
  if (startedRaw) {
    const started = JSON.parse(startedRaw) as { item_id?: string };
    const base = { id: started.item_id ?? events.newItemId(), type: 'command_execution' as const, command: shellQuote(spec.argv) };
    await events.completed({ ...base, aggregated_output: OUTCOME_UNKNOWN_MESSAGE, exit_code: null, status: 'failed' });
    return recordResult({ ran: false, exitCode: null, forModel: OUTCOME_UNKNOWN_MESSAGE, outcomeUnknown: true });
  }
  const base = {
    id: events.newItemId(),
    type: 'command_execution' as const,
    command: shellQuote(spec.argv),
    aggregated_output: '',
    exit_code: null,
  };
  let decision: Awaited<ReturnType<ActionGate['decide']>>;
  try {
    decision = await d.gate.decide(spec);
  } catch (err) {
    // The breaker tripped on this action's denial: it did not run, and the turn ends.
    if (err instanceof BreakerTripped) {
      await events.completed({ ...base, aggregated_output: err.message, status: 'declined' });
    }
    throw err;
  }
  if (!decision.run) {
    await events.completed({ ...base, aggregated_output: decision.message, status: 'declined' });
    return recordResult({ ran: false, exitCode: null, forModel: decision.message });
  }
  if (d.signal.aborted) throw new Error('interrupted');
  const first = await d.redis.hsetnx(
    commandsKey,
    spec.id,
    JSON.stringify({ started_at: new Date().toISOString(), argv: spec.argv, item_id: base.id }),
  );
  await d.redis.expire(commandsKey, COMMANDS_TTL_S);
  if (first === 0) {
    // Another attempt started it between our read and here (a superseded worker): never twice.
    await events.completed({ ...base, aggregated_output: OUTCOME_UNKNOWN_MESSAGE, status: 'failed' });
    return { ran: false, exitCode: null, forModel: OUTCOME_UNKNOWN_MESSAGE, outcomeUnknown: true };
  }
  await events.started({ ...base, status: 'in_progress' });
  const live = events.outputStream({ ...base, status: 'in_progress' });
  try {
    const r = await d.manager.exec(
      d.sandbox,
      {
        argv: spec.argv,
        cwd: spec.cwd,
        mode: decision.escalated ? 'escalated' : execMode(decision.sandboxMode),
        writableRoots: d.job.config.sandbox_workspace_write.writable_roots,
        network: execNetwork(d.job.config, decision.escalated),
        ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}),
      },
      (chunk) => live.push(chunk.data.toString('utf8')),
      // A network review of this exec sees the command that made the request and the turn so far.
      { execId: spec.id, turnId: d.job.turn_id, signal: d.signal, review: { command: spec.argv, transcript: d.gate.transcript() } },
    );
    await live.flush();
    const output = r.stdout.text + r.stderr.text;
    const outOfMemory = killedOutOfMemory(r);
    const failed = r.exitCode !== 0 || r.timedOut || outOfMemory;
    const memoryNote = outOfMemory ? oomMessage(d.sandbox.memoryLimitMb) : undefined;
    await events.completedCommand(
      {
        ...base,
        aggregated_output: output,
        exit_code: r.exitCode,
        status: failed ? 'failed' : 'completed',
        ...(memoryNote ? { message: memoryNote } : {}),
      },
      { truncated: live.truncated || r.stdout.omittedBytes > 0 || r.stderr.omittedBytes > 0 },
    );
    const notes = [
      r.timedOut ? 'the command timed out and was killed' : '',
      memoryNote ?? '',
      r.signal && !outOfMemory ? `killed by ${r.signal}` : '',
    ].filter(Boolean);
    return await recordResult({
      ran: true,
      exitCode: r.exitCode,
      forModel: clip(`exit code: ${r.exitCode ?? 'none'}${notes.length ? ` (${notes.join('; ')})` : ''}\n${output}`),
    });
  } catch (err) {
    await live.flush();
    if (handedOver(d.signal)) throw err; // stopped for a hand-over: the next attempt reports it unknown
    const message = `the command could not be run: ${(err as Error).message}`;
    await events.completed({ ...base, aggregated_output: message, status: 'failed' });
    return recordResult({ ran: false, exitCode: null, forModel: message });
  }
}
