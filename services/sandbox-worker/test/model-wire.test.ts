// The model wires: the stored conversation (Chat Completions messages) translated into Responses
// input items and a response translated back into the stored shapes; then the agent loop itself
// against the fake model (real Redis, the shell stubbed), one thread switching wire_api between turns.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type EffectiveConfig, DEFAULT_AGENT_CONFIG, type ModelProviders, resolveConfig } from '@paddock/config';
import { type FakeModel, type RedisServer, startFakeModel, startRedis } from '@paddock/testing';
import type { ThreadItem } from '@paddock/contracts';
import { keys } from '@paddock/contracts';
import type { ChatCompletion, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Response } from 'openai/resources/responses/responses';
import { runAgentLoop, SHELL_TOOL, withoutOrphanAnswers } from '../src/turn/agent-loop.ts';
import type { CommandSpec } from '../src/turn/command-runner.ts';
import type { ItemEvents } from '../src/turn/item-events.ts';
import {
  fromChatCompletion,
  fromResponse,
  ModelReplyError,
  toResponsesInput,
  toResponsesParams,
  wireOf,
} from '../src/turn/model-wire.ts';

const call = (id: string, argv: string[]) => ({
  id,
  type: 'function' as const,
  function: { name: 'shell', arguments: JSON.stringify({ command: argv }) },
});

/** A stored conversation: system prompt, a turn with a tool call and an answer, the next question. */
const conversation: ChatCompletionMessageParam[] = [
  { role: 'system', content: 'SYSTEM PROMPT' },
  { role: 'user', content: 'list files' },
  { role: 'assistant', content: null, tool_calls: [call('call_a', ['ls']), call('call_b', ['pwd'])] },
  { role: 'tool', tool_call_id: 'call_a', content: 'exit 0\nnotes.txt' },
  { role: 'tool', tool_call_id: 'call_b', content: 'exit 0\n/workspace' },
  { role: 'assistant', content: 'There is notes.txt.' },
  { role: 'user', content: [{ type: 'text', text: 'and ' }, { type: 'text', text: 'now?' }] },
  { role: 'assistant', content: 'Let me look.', tool_calls: [call('call_c', ['cat', 'notes.txt'])] },
  { role: 'tool', tool_call_id: 'call_c', content: 'exit 0\nhello' },
];

const response = (over: Partial<Response>): Response =>
  ({ id: 'resp_1', object: 'response', status: 'completed', error: null, output: [], ...over }) as unknown as Response;

describe('model wires', () => {
  test("the provider wire: chat only when it says so, the Responses API otherwise (Codex's default)", () => {
    assert.equal(wireOf({ wire_api: 'responses' }), 'responses');
    assert.equal(wireOf({ wire_api: 'chat' }), 'chat');
    assert.equal(wireOf({}), 'responses');
    assert.equal(wireOf(DEFAULT_AGENT_CONFIG.model_providers.openai), 'responses');
  });

  test('stored messages → Responses input: instructions, messages, function calls and their outputs', () => {
    const { instructions, input } = toResponsesInput(conversation);
    assert.equal(instructions, 'SYSTEM PROMPT');
    assert.deepEqual(input, [
      { type: 'message', role: 'user', content: 'list files' },
      { type: 'function_call', call_id: 'call_a', name: 'shell', arguments: '{"command":["ls"]}' },
      { type: 'function_call', call_id: 'call_b', name: 'shell', arguments: '{"command":["pwd"]}' },
      { type: 'function_call_output', call_id: 'call_a', output: 'exit 0\nnotes.txt' },
      { type: 'function_call_output', call_id: 'call_b', output: 'exit 0\n/workspace' },
      { type: 'message', role: 'assistant', content: 'There is notes.txt.' },
      { type: 'message', role: 'user', content: 'and now?' },
      { type: 'message', role: 'assistant', content: 'Let me look.' },
      { type: 'function_call', call_id: 'call_c', name: 'shell', arguments: '{"command":["cat","notes.txt"]}' },
      { type: 'function_call_output', call_id: 'call_c', output: 'exit 0\nhello' },
    ]);
    // A system message after the start stays in place; no system message, no instructions.
    const later = toResponsesInput([
      { role: 'user', content: 'hi' },
      { role: 'system', content: 'be brief' },
    ]);
    assert.equal(later.instructions, undefined);
    assert.deepEqual(later.input, [
      { type: 'message', role: 'user', content: 'hi' },
      { type: 'message', role: 'system', content: 'be brief' },
    ]);
  });

  test('the request: stateless (store false), the shell tool as a non-strict function tool', () => {
    const params = toResponsesParams({ model: 'gpt-x', messages: conversation.slice(0, 2), tools: [SHELL_TOOL] });
    assert.equal(params.model, 'gpt-x');
    assert.equal(params.store, false);
    assert.equal('previous_response_id' in params, false);
    assert.equal(params.instructions, 'SYSTEM PROMPT');
    assert.deepEqual(params.input, [{ type: 'message', role: 'user', content: 'list files' }]);
    assert.deepEqual(params.tools, [
      {
        type: 'function',
        name: 'shell',
        description: SHELL_TOOL.function.description,
        parameters: SHELL_TOOL.function.parameters,
        strict: false,
      },
    ]);
    const bare = toResponsesParams({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [] });
    assert.equal('instructions' in bare, false);
  });

  test('a response → the stored assistant message: text, tool calls with their call_id, usage', () => {
    const step = fromResponse(
      response({
        output: [
          { type: 'reasoning', id: 'rs_1', summary: [] },
          {
            type: 'message',
            id: 'msg_1',
            role: 'assistant',
            status: 'completed',
            content: [
              { type: 'output_text', text: 'Checking ', annotations: [] },
              { type: 'output_text', text: 'the files.', annotations: [] },
            ],
          },
          { type: 'function_call', id: 'fc_1', call_id: 'call_x', name: 'shell', arguments: '{"command":["ls"]}' },
          { type: 'function_call', id: 'fc_2', call_id: 'call_y', name: 'other', arguments: '{}' },
        ],
        usage: {
          input_tokens: 120,
          input_tokens_details: { cached_tokens: 100, cache_write_tokens: 0 },
          output_tokens: 7,
          output_tokens_details: { reasoning_tokens: 3 },
          total_tokens: 127,
        },
      } as Partial<Response>),
    );
    assert.deepEqual(step, {
      message: {
        role: 'assistant',
        content: 'Checking the files.',
        tool_calls: [
          { id: 'call_x', type: 'function', function: { name: 'shell', arguments: '{"command":["ls"]}' } },
          { id: 'call_y', type: 'function', function: { name: 'other', arguments: '{}' } },
        ],
      },
      usage: { input_tokens: 120, cached_input_tokens: 100, output_tokens: 7 },
    });
    // Back to Responses input, the calls keep their call_id.
    const again = toResponsesInput([step.message]).input;
    assert.deepEqual(
      again.map((i) => ('call_id' in i ? [i.type, i.call_id] : [i.type])),
      [['message'], ['function_call', 'call_x'], ['function_call', 'call_y']],
    );
  });

  test('a plain answer has no tool_calls; no usage counts zero; a failed response is a ModelReplyError', () => {
    const step = fromResponse(
      response({
        output: [
          {
            type: 'message',
            id: 'm1',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'first', annotations: [] }],
          },
          {
            type: 'message',
            id: 'm2',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'refusal', refusal: 'no' }],
          },
          {
            type: 'message',
            id: 'm3',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'second', annotations: [] }],
          },
        ],
      } as Partial<Response>),
    );
    assert.deepEqual(step, {
      message: { role: 'assistant', content: 'first\n\nsecond' },
      usage: { input_tokens: 0, cached_input_tokens: 0, output_tokens: 0 },
    });
    assert.equal(fromResponse(response({ output: [] })).message.content, null);
    assert.throws(
      () => fromResponse(response({ status: 'failed', error: { code: 'server_error', message: 'overloaded' } })),
      (err) => err instanceof ModelReplyError && /overloaded/.test(err.message),
    );
  });

  test("a response's reasoning summaries come back beside the message (Codex's reasoning items), not in it", () => {
    const step = fromResponse(
      response({
        output: [
          { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: '**Planning**' }, { type: 'summary_text', text: 'list, then edit' }] },
          { type: 'reasoning', id: 'rs_2', summary: [] },
          { type: 'message', id: 'm', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'done', annotations: [] }] },
        ] as unknown as Response['output'],
      }),
    );
    assert.deepEqual(step.reasoning, ['**Planning**\n\nlist, then edit']);
    assert.deepEqual(step.message, { role: 'assistant', content: 'done' });
    assert.equal(fromResponse(response({ output: [] })).reasoning, undefined);
  });

  test('a chat completion → the same stored shape and usage', () => {
    const completion = {
      id: 'c1',
      object: 'chat.completion',
      created: 0,
      model: 'm',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          logprobs: null,
          message: { role: 'assistant', content: null, refusal: null, tool_calls: [call('call_z', ['ls'])] },
        },
      ],
      usage: { prompt_tokens: 50, completion_tokens: 4, total_tokens: 54, prompt_tokens_details: { cached_tokens: 20 } },
    } as ChatCompletion;
    assert.deepEqual(fromChatCompletion(completion), {
      message: { role: 'assistant', content: null, tool_calls: [call('call_z', ['ls'])] },
      usage: { input_tokens: 50, cached_input_tokens: 20, output_tokens: 4 },
    });
    assert.throws(() => fromChatCompletion({ ...completion, choices: [] }), ModelReplyError);
  });
});

describe('the agent loop over both wires', () => {
  let redis: RedisServer;
  let model: FakeModel;
  before(async () => {
    redis = await startRedis();
    model = await startFakeModel();
  });
  after(async () => {
    await model?.close();
    await redis?.stop();
  });

  // The worker's own provider table (the cluster file's): one provider per wire, picked by name.
  const providers = (): ModelProviders => ({
    fake: { base_url: model.url, env_key: 'FAKE_KEY' },
    'fake-chat': { base_url: model.url, env_key: 'FAKE_KEY', wire_api: 'chat' },
    'fake-responses': { base_url: model.url, env_key: 'FAKE_KEY', wire_api: 'responses' },
  });
  const config = (wire: 'chat' | 'responses' | undefined): EffectiveConfig => ({
    ...resolveConfig([]),
    model: 'agent-model',
    model_provider: wire ? `fake-${wire}` : 'fake',
  });

  /** One `input` turn of thread `thr_w`; the shell answers `ran <argv>`. */
  async function turn(wire: 'chat' | 'responses' | undefined, input: string) {
    const items: ThreadItem[] = [];
    const ran: CommandSpec[] = [];
    const events = {
      completed: async (item: ThreadItem) => void items.push(item),
      newItemId: () => `item_${items.length}`,
    } as unknown as ItemEvents;
    const outcome = await runAgentLoop({
      redis: redis.client(),
      job: { turn_id: `turn_${input}`, thread_id: 'thr_w', input, config: config(wire) },
      events,
      transcript: [],
      runShell: async (spec) => {
        ran.push(spec);
        return { ran: true, exitCode: 0, forModel: `ran ${spec.argv.join(' ')}` };
      },
      signal: new AbortController().signal,
      modelProviders: providers(),
      env: { FAKE_KEY: 'k-test' },
    });
    return { outcome, items, ran };
  }

  const shell = (argv: string[], callId: string) =>
    ({ kind: 'tool_call', name: 'shell', arguments: { command: argv }, callId }) as const;

  test('chat, then responses, then chat again: one stored conversation, each call on its wire', async () => {
    // Turn 1, wire_api = "chat": Chat Completions.
    model.script(
      { ...shell(['ls'], 'call_1'), usage: { input_tokens: 10, output_tokens: 1 } },
      { kind: 'text', text: 'one', usage: { input_tokens: 20, output_tokens: 2 } },
    );
    const first = await turn('chat', 'q1');
    assert.deepEqual(first.outcome, {
      status: 'completed',
      usage: { input_tokens: 30, cached_input_tokens: 0, output_tokens: 3 },
    });
    assert.deepEqual(model.requests.map((r) => r.api), ['chat', 'chat']);

    // Turn 2, wire_api = "responses": the chat turn's history goes along as Responses items.
    model.script(
      { ...shell(['cat', 'a b'], 'call_2'), usage: { input_tokens: 100, cached_input_tokens: 60, output_tokens: 5 } },
      { kind: 'text', text: 'two', usage: { input_tokens: 110, cached_input_tokens: 90, output_tokens: 6 } },
    );
    const second = await turn('responses', 'q2');
    assert.deepEqual(second.outcome, {
      status: 'completed',
      usage: { input_tokens: 210, cached_input_tokens: 150, output_tokens: 11 },
    });
    assert.deepEqual(second.ran.map((s) => [s.id, s.argv]), [['call_2', ['cat', 'a b']]]);
    assert.deepEqual(
      second.items.map((i) => (i.type === 'agent_message' ? i.text : i.type)),
      ['two'],
    );
    const [r1, r2] = model.requests.slice(2);
    assert.deepEqual([r1?.api, r2?.api], ['responses', 'responses']);
    assert.equal(r1?.headers['authorization'], 'Bearer k-test');
    assert.equal(r1?.body['store'], false);
    assert.equal(r1?.body['previous_response_id'], undefined);
    assert.match(String(r1?.body['instructions']), /coding agent/);
    assert.deepEqual((r1?.body['tools'] as { name: string; strict: boolean }[]).map((t) => [t.name, t.strict]), [['shell', false]]);
    type Item = { type: string; role?: string; content?: string; call_id?: string; output?: string };
    const summary = (items: Item[]) =>
      items.map((i) => (i.type === 'message' ? `${i.role}:${i.content}` : `${i.type}:${i.call_id}:${i.output ?? ''}`));
    assert.deepEqual(summary(r1?.body['input'] as Item[]), [
      'user:q1',
      'function_call:call_1:',
      'function_call_output:call_1:ran ls',
      'assistant:one',
      'user:q2',
    ]);
    assert.deepEqual(summary(r2?.body['input'] as Item[]).slice(-2), [
      'function_call:call_2:',
      'function_call_output:call_2:ran cat a b',
    ]);

    // The conversation is stored as chat messages, whatever the wire.
    const stored = (await redis.client().lrange(keys.conversation('thr_w'), 0, -1)).map(
      (s) => JSON.parse(s) as { role: string; tool_calls?: { id: string }[]; tool_call_id?: string },
    );
    assert.deepEqual(
      stored.map((m) => m.role),
      ['system', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant', 'tool', 'assistant'],
    );
    assert.equal(stored[6]?.tool_calls?.[0]?.id, 'call_2');
    assert.equal(stored[7]?.tool_call_id, 'call_2');

    // Turn 3, back to chat: the responses turn's calls are chat tool calls again.
    model.script({ kind: 'text', text: 'three' });
    const third = await turn('chat', 'q3');
    assert.equal(third.outcome.status, 'completed');
    const r3 = model.requests.at(-1)!;
    assert.equal(r3.api, 'chat');
    const messages = r3.body['messages'] as { role: string; tool_call_id?: string; content?: string }[];
    assert.equal(messages.length, 10);
    assert.deepEqual(messages.find((m) => m.role === 'tool' && m.tool_call_id === 'call_2')?.content, 'ran cat a b');
  });

  test('a provider error on the responses wire fails the turn as model_error', async () => {
    model.script({ kind: 'error', status: 400, message: 'bad input item' });
    const { outcome } = await turn('responses', 'q4');
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' && outcome.error.code, 'model_error');
    assert.equal(model.requests.at(-1)?.api, 'responses');
  });

  test('no model answering at all fails the turn as model_unreachable, naming the endpoint', async () => {
    // A port nothing listens on: taken, then released.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const outcome = await runAgentLoop({
      redis: redis.client(),
      job: { turn_id: 'turn_gone', thread_id: 'thr_gone', input: 'hi', config: { ...config(undefined), model_provider: 'gone' } },
      events: { completed: async () => {}, newItemId: () => 'item_0' } as unknown as ItemEvents,
      transcript: [],
      runShell: async () => ({ ran: true, exitCode: 0, forModel: '' }),
      signal: new AbortController().signal,
      modelProviders: { gone: { base_url: `http://127.0.0.1:${port}/v1` } },
      env: {},
    });
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' && outcome.error.code, 'model_unreachable');
    assert.match(outcome.status === 'failed' ? outcome.error.message : '', new RegExp(`127\\.0\\.0\\.1:${port}.*OPENAI_BASE_URL`));
  });
});

test('a trimmed conversation drops the tool answers whose call was cut off, and keeps the rest', () => {
  const sys: ChatCompletionMessageParam = { role: 'system', content: 'prompt' };
  const orphan: ChatCompletionMessageParam = { role: 'tool', tool_call_id: 'gone', content: 'old output' };
  const user: ChatCompletionMessageParam = { role: 'user', content: 'next' };
  const call: ChatCompletionMessageParam = {
    role: 'assistant',
    content: null,
    tool_calls: [{ id: 'c1', type: 'function', function: { name: 'shell', arguments: '{"command":["ls"]}' } }],
  };
  const answer: ChatCompletionMessageParam = { role: 'tool', tool_call_id: 'c1', content: 'files' };
  assert.deepEqual(withoutOrphanAnswers([sys, orphan, orphan, user, call, answer]), [sys, user, call, answer]);
  const whole = [sys, user, call, answer];
  assert.equal(withoutOrphanAnswers(whole), whole, 'an untrimmed conversation is unchanged');
});
