import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI, { APIConnectionTimeoutError, APIError } from 'openai';
import { type FakeModel, startFakeModel } from '../src/fake-model.ts';

let model: FakeModel;
let client: OpenAI;
before(async () => {
  model = await startFakeModel();
  client = new OpenAI({ baseURL: model.url, apiKey: 'test-key', maxRetries: 0 });
});
after(() => model?.close());

const shellTool = {
  type: 'function' as const,
  function: {
    name: 'shell',
    parameters: { type: 'object', properties: { argv: { type: 'array', items: { type: 'string' } } } },
  },
};

test('chat completions: a scripted tool call reaches the SDK, and the request is recorded', async () => {
  model.script({ kind: 'tool_call', name: 'shell', arguments: { argv: ['ls', '-la'] }, callId: 'call_1' });
  const res = await client.chat.completions.create({
    model: 'm1',
    messages: [{ role: 'user', content: 'list files' }],
    tools: [shellTool],
  });
  const call = res.choices[0]?.message.tool_calls?.[0];
  assert.equal(res.choices[0]?.finish_reason, 'tool_calls');
  assert.ok(call && call.type === 'function');
  assert.equal(call.id, 'call_1');
  assert.equal(call.function.name, 'shell');
  assert.deepEqual(JSON.parse(call.function.arguments), { argv: ['ls', '-la'] });
  const recorded = model.requests.at(-1);
  assert.equal(recorded?.api, 'chat');
  assert.equal(recorded?.body['model'], 'm1');
  assert.equal(recorded?.headers['authorization'], 'Bearer test-key');
  assert.ok(res.usage && res.usage.total_tokens > 0);
  assert.equal(res.usage.prompt_tokens_details?.cached_tokens, 0);
  model.script({ kind: 'text', text: 'cached', usage: { input_tokens: 20, cached_input_tokens: 12, output_tokens: 3 } });
  const cached = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(cached.usage?.prompt_tokens_details?.cached_tokens, 12);
});

test('responses API: a tool call and a plain answer', async () => {
  model.script(
    { kind: 'tool_call', name: 'shell', arguments: { argv: ['pwd'] }, callId: 'call_r1' },
    { kind: 'text', text: 'done', usage: { input_tokens: 40, cached_input_tokens: 30, output_tokens: 5 } },
  );
  const first = await client.responses.create({ model: 'm1', input: 'where am I?' });
  const fc = first.output[0];
  assert.ok(fc && fc.type === 'function_call');
  assert.equal(fc.name, 'shell');
  assert.equal(fc.call_id, 'call_r1');
  assert.deepEqual(JSON.parse(fc.arguments), { argv: ['pwd'] });
  assert.equal(first.usage?.input_tokens_details.cached_tokens, 0);
  const second = await client.responses.create({ model: 'm1', input: 'and?' });
  assert.equal(second.output_text, 'done');
  assert.deepEqual(
    [second.usage?.input_tokens, second.usage?.input_tokens_details.cached_tokens, second.usage?.output_tokens],
    [40, 30, 5],
  );
  assert.equal(model.requests.at(-1)?.api, 'responses');
});

test('structured output: JSON-schema response_format parsed by the SDK', async () => {
  const verdict = { risk_level: 'low', outcome: 'allow', rationale: 'reads only' };
  model.script({ kind: 'json', value: verdict });
  const res = await client.chat.completions.parse({
    model: 'm1',
    messages: [{ role: 'user', content: 'review' }],
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'verdict',
        strict: true,
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['risk_level', 'outcome', 'rationale'],
          properties: {
            risk_level: { type: 'string' },
            outcome: { type: 'string' },
            rationale: { type: 'string' },
          },
        },
      },
    },
  });
  assert.deepEqual(res.choices[0]?.message.parsed, verdict);
  const rf = model.requests.at(-1)?.body['response_format'] as {
    type: string;
    json_schema: { name: string };
  };
  assert.equal(rf.type, 'json_schema');
  assert.equal(rf.json_schema.name, 'verdict');
});

test('a scripted 500 surfaces as an APIError; with retries the next scripted reply succeeds', async () => {
  model.script({ kind: 'error', status: 500, message: 'boom' });
  await assert.rejects(
    client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof APIError);
      assert.equal(err.status, 500);
      return true;
    },
  );
  const retrying = new OpenAI({ baseURL: model.url, apiKey: 'k', maxRetries: 1 });
  model.script(
    { kind: 'error', status: 500, headers: { 'retry-after-ms': '1' } },
    { kind: 'text', text: 'recovered' },
  );
  const before = model.requests.length;
  const res = await retrying.chat.completions.create({
    model: 'm1',
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(res.choices[0]?.message.content, 'recovered');
  assert.equal(model.requests.length - before, 2);
});

test('a hang is cut by the client-side timeout', async () => {
  model.script({ kind: 'hang' });
  const started = Date.now();
  await assert.rejects(
    client.chat.completions.create(
      { model: 'm1', messages: [{ role: 'user', content: 'x' }] },
      { timeout: 300 },
    ),
    APIConnectionTimeoutError,
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 290 && elapsed < 5000, `timed out after ${elapsed} ms`);
  assert.equal(model.inFlight(), 1, 'the server still holds the hung request');
});

test('malformed JSON and a refusal are delivered as such', async () => {
  model.script({ kind: 'malformed' });
  await assert.rejects(
    client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'x' }] }),
  );
  model.script({ kind: 'refusal', refusal: 'I cannot help with that' });
  const res = await client.chat.completions.create({
    model: 'm1',
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(res.choices[0]?.message.refusal, 'I cannot help with that');
});

test('a handler answers when the queue is empty; a delay holds the reply', async () => {
  model.setHandler((req) => ({ kind: 'text', text: `echo:${String(req.body['model'])}`, delayMs: 100 }));
  const started = Date.now();
  const res = await client.chat.completions.create({
    model: 'handled',
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(res.choices[0]?.message.content, 'echo:handled');
  assert.ok(Date.now() - started >= 95);
  model.setHandler(undefined);
});
