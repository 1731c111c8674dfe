// A scriptable OpenAI-compatible model server (Chat Completions and Responses, as far as the
// `openai` SDK needs them): the one stand-in the tests use. Each request takes the next scripted
// reply, else the handler's, else a plain "ok"; every request is recorded.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';

/** Token usage a reply reports; `cached_input_tokens` (default 0) is the cached part of the input. */
export type Usage = { input_tokens: number; output_tokens: number; cached_input_tokens?: number };

export type ScriptedReply = (
  | { kind: 'text'; text: string }
  | { kind: 'tool_call'; name: string; arguments: unknown; callId?: string }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw_content'; content: string }
  | { kind: 'refusal'; refusal: string }
  | { kind: 'error'; status: number; message?: string; headers?: Record<string, string> }
  | { kind: 'malformed' }
  | { kind: 'hang' }
) & { delayMs?: number; usage?: Usage };

export type RecordedRequest = {
  api: 'chat' | 'responses';
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  receivedAt: number;
};

export type FakeModel = {
  /** Base URL for the openai SDK, ending in /v1. */
  url: string;
  requests: RecordedRequest[];
  /** Queues replies, taken one per request in order. */
  script: (...replies: ScriptedReply[]) => void;
  /** The reply for requests when the queue is empty. */
  setHandler: (
    handler: ((req: RecordedRequest) => ScriptedReply | Promise<ScriptedReply>) | undefined,
  ) => void;
  /** Requests currently held (hanging or delayed). */
  inFlight: () => number;
  close: () => Promise<void>;
};

const rid = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;
const estimateTokens = (v: unknown) => Math.max(1, Math.ceil(JSON.stringify(v ?? '').length / 4));

function chatBody(model: string, reply: ScriptedReply, usage: Usage) {
  const message: Record<string, unknown> = { role: 'assistant', content: null, refusal: null };
  let finish = 'stop';
  switch (reply.kind) {
    case 'text':
      message['content'] = reply.text;
      break;
    case 'json':
      message['content'] = JSON.stringify(reply.value);
      break;
    case 'raw_content':
      message['content'] = reply.content;
      break;
    case 'refusal':
      message['refusal'] = reply.refusal;
      break;
    case 'tool_call':
      finish = 'tool_calls';
      message['tool_calls'] = [
        {
          id: reply.callId ?? rid('call'),
          type: 'function',
          function: {
            name: reply.name,
            arguments:
              typeof reply.arguments === 'string' ? reply.arguments : JSON.stringify(reply.arguments),
          },
        },
      ];
      break;
    default:
      throw new Error(`not a body reply: ${reply.kind}`);
  }
  return {
    id: rid('chatcmpl'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
    usage: {
      prompt_tokens: usage.input_tokens,
      completion_tokens: usage.output_tokens,
      total_tokens: usage.input_tokens + usage.output_tokens,
      prompt_tokens_details: { cached_tokens: usage.cached_input_tokens ?? 0 },
    },
  };
}

function responsesBody(model: string, reply: ScriptedReply, usage: Usage) {
  const text = (t: string) => ({
    type: 'message',
    id: rid('msg'),
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: t, annotations: [] }],
  });
  let output: unknown[];
  switch (reply.kind) {
    case 'text':
      output = [text(reply.text)];
      break;
    case 'json':
      output = [text(JSON.stringify(reply.value))];
      break;
    case 'raw_content':
      output = [text(reply.content)];
      break;
    case 'refusal':
      output = [
        {
          type: 'message',
          id: rid('msg'),
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'refusal', refusal: reply.refusal }],
        },
      ];
      break;
    case 'tool_call':
      output = [
        {
          type: 'function_call',
          id: rid('fc'),
          call_id: reply.callId ?? rid('call'),
          name: reply.name,
          arguments: typeof reply.arguments === 'string' ? reply.arguments : JSON.stringify(reply.arguments),
          status: 'completed',
        },
      ];
      break;
    default:
      throw new Error(`not a body reply: ${reply.kind}`);
  }
  return {
    id: rid('resp'),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    model,
    status: 'completed',
    error: null,
    incomplete_details: null,
    output,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    usage: {
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      total_tokens: usage.input_tokens + usage.output_tokens,
      input_tokens_details: { cached_tokens: usage.cached_input_tokens ?? 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  };
}

export async function startFakeModel(): Promise<FakeModel> {
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  const held = new Set<() => void>();
  let handler: ((req: RecordedRequest) => ScriptedReply | Promise<ScriptedReply>) | undefined;
  const app: FastifyInstance = Fastify({
    logger: false,
    forceCloseConnections: true,
    bodyLimit: 32 * 1024 * 1024,
  });

  // Waits `ms`, or until close() releases every held request.
  const hold = (ms: number) =>
    new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        held.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      held.add(release);
    });

  const serve = async (
    api: RecordedRequest['api'],
    body: Record<string, unknown>,
    headers: RecordedRequest['headers'],
    reply: FastifyReply,
  ) => {
    const recorded: RecordedRequest = { api, body, headers, receivedAt: Date.now() };
    requests.push(recorded);
    const next = queue.shift() ?? (handler ? await handler(recorded) : { kind: 'text', text: 'ok' });
    if (next.delayMs) await hold(next.delayMs);
    const model = String(body['model'] ?? 'fake-model');
    switch (next.kind) {
      case 'hang':
        await hold(10 * 60_000); // held until the client gives up or close() runs
        return reply.code(504).send({ error: { message: 'hang released', type: 'server_error' } });
      case 'error':
        return reply
          .code(next.status)
          .headers(next.headers ?? {})
          .send({
            error: { message: next.message ?? `scripted ${next.status}`, type: 'server_error', code: null },
          });
      case 'malformed':
        return reply.code(200).type('application/json').send('{"id": "broken", "choices": [ {');
      default: {
        const usage = next.usage ?? {
          input_tokens: estimateTokens(body['messages'] ?? body['input']),
          output_tokens: 8,
        };
        return reply
          .code(200)
          .send(api === 'chat' ? chatBody(model, next, usage) : responsesBody(model, next, usage));
      }
    }
  };

  app.post('/v1/chat/completions', (req, reply) =>
    serve('chat', req.body as Record<string, unknown>, req.headers, reply),
  );
  app.post('/v1/responses', (req, reply) =>
    serve('responses', req.body as Record<string, unknown>, req.headers, reply),
  );
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: 'fake-model', object: 'model', created: 0, owned_by: 'paddock-tests' }],
  }));

  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script: (...replies) => queue.push(...replies),
    setHandler: (h) => {
      handler = h;
    },
    inFlight: () => held.size,
    close: async () => {
      for (const release of [...held]) release();
      await app.close();
    },
  };
}
