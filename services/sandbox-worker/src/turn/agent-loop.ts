// The agent loop of an `input` turn: the model (openai SDK, at the base URL of the provider the turn
// names, looked up in the WORKER'S OWN cluster-file provider table: a provider table or key variable
// name carried in the turn record is never used; over its wire_api, see model-wire.ts) with one
// `shell` tool; each tool call goes through exactly the same gate and runner as a scripted command.
// The conversation is kept per thread in Redis (as Chat Completions messages, whatever the wire),
// and the token usage of every model call is summed for turn.completed. The turn is checkpointed
// after every step (each model answer and each tool answer, with the steps taken and tokens used):
// a resumed attempt continues from there, and a call whose command an earlier attempt started
// without recording a result is answered "outcome unknown", never run again (command-runner.ts).
import { SpanKind } from '@opentelemetry/api';
import { inSpan, paddockTracer } from '@paddock/platform';
import type { EffectiveConfig, ModelProviders } from '@paddock/config';
import type { TranscriptItem, Usage } from '@paddock/contracts';
import { keys } from '@paddock/contracts';
import { handedOver } from '@paddock/turn-queue';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import type { ChatCompletionFunctionTool, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CommandResult, CommandSpec } from './command-runner.ts';
import type { ItemEvents } from './item-events.ts';
import { callModel, ModelReplyError, wireOf } from './model-wire.ts';

/** Model calls per turn at most: a model that never stops calling tools ends the turn failed. */
export const MAX_MODEL_STEPS = 64;
/** Conversation messages kept per thread (oldest dropped, the system prompt always first). */
const CONVERSATION_MAX_MESSAGES = 400;
/** How long a turn's checkpoint is kept (as long as its command record). */
const CHECKPOINT_TTL_S = 7 * 86_400;
const tracer = paddockTracer('sandbox-worker');

const SYSTEM_PROMPT =
  'You are a coding agent working in a sandboxed Linux workspace at /workspace. Use the `shell` tool to ' +
  'run commands (argv form). Commands run under the thread\'s sandbox policy; when one needs more (writes ' +
  'outside the workspace, full access), set with_escalated_permissions with a justification and it will be ' +
  'reviewed. When a command is denied, do not work around the denial. Answer the user when done.';

export const SHELL_TOOL: ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'shell',
    description: 'Runs a command in the sandbox and returns its exit code and output.',
    parameters: {
      type: 'object',
      properties: {
        command: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'argv' },
        workdir: { type: 'string', description: 'absolute working directory (default /workspace)' },
        timeout_ms: { type: 'integer', minimum: 1, description: 'hard timeout' },
        with_escalated_permissions: { type: 'boolean', description: 'run outside the sandbox limits (reviewed)' },
        justification: { type: 'string', description: 'why the escalation is needed' },
      },
      required: ['command'],
      additionalProperties: false,
    },
  },
};

/** Codex's apply_patch as a function tool: the whole patch in `input` (its `*** Begin Patch` format). */
export const APPLY_PATCH_TOOL: ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'apply_patch',
    description:
      'Use the `apply_patch` tool to edit files. The patch language is a stripped-down, file-oriented diff format:\n' +
      '*** Begin Patch\n[ one or more file sections ]\n*** End Patch\n' +
      'Each file section starts with one of: "*** Add File: <path>" (every following line starts with +), ' +
      '"*** Delete File: <path>", or "*** Update File: <path>" (optionally followed by "*** Move to: <new path>") ' +
      'and then hunks: a line "@@" or "@@ <a line above the change, e.g. a def>" followed by lines starting with ' +
      '" " (context, 3 lines before and after), "-" (removed) or "+" (added). Paths are relative to /workspace. ' +
      'Edits outside the writable roots are reviewed before they are applied.',
    parameters: {
      type: 'object',
      properties: { input: { type: 'string', description: 'The entire contents of the apply_patch command' } },
      required: ['input'],
      additionalProperties: false,
    },
  },
};

export type AgentLoopDeps = {
  redis: Redis;
  job: { turn_id: string; thread_id: string; input: string; config: EffectiveConfig };
  events: ItemEvents;
  transcript: TranscriptItem[];
  runShell: (spec: CommandSpec) => Promise<CommandResult>;
  /** The apply_patch tool (offered only when given): answers what the model is told. */
  applyPatch?: (input: string) => Promise<string>;
  signal: AbortSignal;
  /** The cluster file's model providers as this worker read them (clusterModelProviders). */
  modelProviders: ModelProviders;
  env?: NodeJS.ProcessEnv;
};

export type AgentOutcome =
  | { status: 'completed'; usage: Usage }
  | { status: 'failed'; usage: Usage; error: { code: string; message: string } };

/** Parses the model's shell arguments; a bad call is answered to the model, never run. */
export function parseShellCall(raw: string, callId: string): CommandSpec | string {
  let args: Record<string, unknown>;
  try {
    args = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return 'invalid arguments: not JSON';
  }
  const argv = args['command'];
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string'))
    return 'invalid arguments: "command" must be a non-empty array of strings';
  const cwd = args['workdir'] ?? '/workspace';
  if (typeof cwd !== 'string' || !cwd.startsWith('/')) return 'invalid arguments: "workdir" must be an absolute path';
  const timeout = args['timeout_ms'];
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1))
    return 'invalid arguments: "timeout_ms" must be a positive integer';
  const spec: CommandSpec = { id: callId, argv: argv as string[], cwd };
  if (typeof timeout === 'number') spec.timeoutMs = Math.min(timeout, 3_600_000);
  if (args['with_escalated_permissions'] === true) {
    const justification = args['justification'];
    if (typeof justification !== 'string' || justification.trim() === '')
      return 'invalid arguments: an escalation needs a "justification"';
    spec.escalate = { justification };
  }
  return spec;
}

export async function runAgentLoop(d: AgentLoopDeps): Promise<AgentOutcome> {
  const { config } = d.job;
  // By name in the worker's own table: Object.hasOwn so a name like "__proto__" finds nothing.
  const provider = Object.hasOwn(d.modelProviders, config.model_provider)
    ? d.modelProviders[config.model_provider]
    : undefined;
  if (!provider) {
    return {
      status: 'failed',
      usage: { input_tokens: 0, output_tokens: 0 },
      error: {
        code: 'model_provider_unknown',
        message: `"${config.model_provider}" is not one of this cluster's model providers`,
      },
    };
  }
  const env = d.env ?? process.env;
  const wire = wireOf(provider);
  // Codex's provider keys: extra query parameters and headers (static, or from the worker's environment:
  // an unset variable sends no header), and the retry count of a failed request.
  const envHeaders = Object.entries(provider.env_http_headers ?? {}).flatMap(([header, name]) =>
    env[name] ? [[header, env[name]] as const] : [],
  );
  const client = new OpenAI({
    baseURL: provider.base_url,
    apiKey: (provider.env_key ? env[provider.env_key] : undefined) ?? 'unset',
    maxRetries: provider.request_max_retries ?? 1,
    ...(provider.query_params ? { defaultQuery: provider.query_params } : {}),
    defaultHeaders: { ...provider.http_headers, ...Object.fromEntries(envHeaders) },
  });
  const checkpointKey = keys.turnCheckpoint(d.job.turn_id);
  const [stored, checkpoint] = await Promise.all([
    d.redis.lrange(keys.conversation(d.job.thread_id), 0, -1),
    d.redis.hgetall(checkpointKey),
  ]);
  const history = withoutOrphanAnswers(stored.map((raw) => JSON.parse(raw) as ChatCompletionMessageParam));
  // A checkpoint: an earlier attempt of this turn already put its input in the conversation.
  const resuming = checkpoint['step'] !== undefined;
  const fresh: ChatCompletionMessageParam[] = [];
  if (!resuming && history.length === 0) fresh.push({ role: 'system', content: SYSTEM_PROMPT });
  if (!resuming) {
    // A previous turn whose worker was lost for good can leave calls unanswered: both wires refuse that.
    for (const call of unansweredCalls(history))
      fresh.push({ role: 'tool', tool_call_id: call.id, content: 'the turn ended before this call ran' });
    fresh.push({ role: 'user', content: d.job.input });
  }
  d.transcript.push({ role: 'user', content: d.job.input });
  const usage: Required<Usage> = {
    input_tokens: Number(checkpoint['input_tokens'] ?? 0),
    cached_input_tokens: Number(checkpoint['cached_input_tokens'] ?? 0),
    output_tokens: Number(checkpoint['output_tokens'] ?? 0),
  };
  let stepsTaken = Number(checkpoint['step'] ?? 0);
  // The conversation and the checkpoint in one MULTI: a resume never sees one without the other.
  const save = async () => {
    const key = keys.conversation(d.job.thread_id);
    const m = d.redis.multi();
    if (fresh.length > 0) {
      m.rpush(key, ...fresh.map((x) => JSON.stringify(x)));
      // Keep the first message (the system prompt) and the newest ones.
      const len = history.length + fresh.length;
      if (len > CONVERSATION_MAX_MESSAGES) {
        const first = history[0] ?? fresh[0];
        m.ltrim(key, len - CONVERSATION_MAX_MESSAGES + 1, -1).lpush(key, JSON.stringify(first));
      }
    }
    m.hset(checkpointKey, { step: stepsTaken, ...usage }).expire(checkpointKey, CHECKPOINT_TTL_S);
    await m.exec();
    history.push(...fresh);
    fresh.length = 0;
  };
  const answerCall = async (call: { id: string; function: { name: string; arguments: string } }) => {
    let answer: string;
    if (call.function.name === 'apply_patch' && d.applyPatch) {
      answer = await applyPatchCall(d.applyPatch, call.function.arguments);
    } else if (call.function.name !== 'shell') {
      answer = `unknown tool "${call.function.name}"; the tools are ${d.applyPatch ? '"shell" and "apply_patch"' : 'only "shell"'}`;
    } else {
      const spec = parseShellCall(call.function.arguments, call.id);
      if (typeof spec === 'string') answer = spec;
      else {
        d.transcript.push({ role: 'assistant', content: `shell ${JSON.stringify(spec.argv)}` });
        answer = (await d.runShell(spec)).forModel;
      }
    }
    d.transcript.push({ role: 'tool', content: answer.slice(0, 2000) });
    fresh.push({ role: 'tool', tool_call_id: call.id, content: answer });
    await save();
  };
  await save();
  try {
    // Resumed after the model asked for tools: the calls the lost attempt left unanswered come first.
    if (resuming) for (const call of unansweredCalls(history)) await answerCall(call);
    for (let step = stepsTaken; step < MAX_MODEL_STEPS; step++) {
      const { message, usage: used, reasoning } = await inSpan(
        tracer,
        'model.call',
        {
          kind: SpanKind.CLIENT,
          attributes: { 'gen_ai.request.model': config.model, 'paddock.step': step, 'paddock.wire_api': wire },
        },
        async (span) => {
          const answer = await callModel(
            client,
            wire,
            { model: config.model, messages: [...history, ...fresh], tools: d.applyPatch ? [SHELL_TOOL, APPLY_PATCH_TOOL] : [SHELL_TOOL] },
            d.signal,
          );
          span.setAttributes({
            'gen_ai.usage.input_tokens': answer.usage.input_tokens,
            'gen_ai.usage.output_tokens': answer.usage.output_tokens,
          });
          return answer;
        },
      );
      usage.input_tokens += used.input_tokens;
      usage.cached_input_tokens += used.cached_input_tokens;
      usage.output_tokens += used.output_tokens;
      stepsTaken = step + 1;
      const calls = message.tool_calls ?? [];
      fresh.push(message);
      // Codex's `reasoning` items: the summaries the model returned, before what it says or runs.
      for (const text of reasoning ?? []) {
        await d.events.completed({ id: d.events.newItemId(), type: 'reasoning', text });
      }
      if (message.content) {
        d.transcript.push({ role: 'assistant', content: message.content });
        await d.events.completed({ id: d.events.newItemId(), type: 'agent_message', text: message.content });
      }
      await save();
      if (calls.length === 0) return { status: 'completed', usage };
      for (const call of calls) await answerCall(call);
    }
    return {
      status: 'failed',
      usage,
      error: { code: 'too_many_steps', message: `the model made ${MAX_MODEL_STEPS} calls without answering` },
    };
  } catch (err) {
    // Handed over (drain, lock lost): the checkpoint stays as it is, for the next attempt to resume.
    if (handedOver(d.signal)) throw err;
    // Every tool call in the conversation needs its answer, or the thread's next turn is refused.
    for (const call of unansweredCalls([...history, ...fresh]))
      fresh.push({ role: 'tool', tool_call_id: call.id, content: 'the turn ended before this call ran' });
    await save().catch(() => undefined);
    if (d.signal.aborted) throw err;
    // No answer at all (refused, DNS, timeout): say which endpoint and how to point it elsewhere.
    if (err instanceof OpenAI.APIConnectionError) {
      const message = `no model answered at ${provider.base_url} (${err.message}); set OPENAI_BASE_URL / OPENAI_API_KEY or [model_providers]`;
      return { status: 'failed', usage, error: { code: 'model_unreachable', message } };
    }
    if (err instanceof OpenAI.APIError || err instanceof ModelReplyError) {
      return { status: 'failed', usage, error: { code: 'model_error', message: err.message } };
    }
    throw err;
  }
}

/** The apply_patch call's `input` (a bad call is answered to the model, never applied). */
async function applyPatchCall(apply: (input: string) => Promise<string>, raw: string): Promise<string> {
  let input: unknown;
  try {
    input = (JSON.parse(raw) as Record<string, unknown>)['input'];
  } catch {
    return 'invalid arguments: not JSON';
  }
  if (typeof input !== 'string' || input === '') return 'invalid arguments: "input" must be the patch text';
  return apply(input);
}

/** The tool calls of the conversation's last model answer that have no tool answer after it. */
export function unansweredCalls(
  history: ChatCompletionMessageParam[],
): { id: string; function: { name: string; arguments: string } }[] {
  let at = history.length - 1;
  while (at >= 0 && history[at]!.role === 'tool') at--;
  const last = history[at];
  if (!last || last.role !== 'assistant') return [];
  const answered = new Set(history.slice(at + 1).flatMap((m) => (m.role === 'tool' ? [m.tool_call_id] : [])));
  return (last.tool_calls ?? []).flatMap((c) => (c.type === 'function' && !answered.has(c.id) ? [c] : []));
}

/**
 * A trimmed conversation can begin (after the system prompt) with tool answers whose call was cut
 * off; both wires refuse a tool answer without its call, so those answers are dropped.
 */
export function withoutOrphanAnswers(history: ChatCompletionMessageParam[]): ChatCompletionMessageParam[] {
  const head = history[0]?.role === 'system' ? 1 : 0;
  let start = head;
  while (history[start]?.role === 'tool') start++;
  return start === head ? history : [...history.slice(0, head), ...history.slice(start)];
}
