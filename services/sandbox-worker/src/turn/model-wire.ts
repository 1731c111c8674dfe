// The model call of one agent step over the provider's wire_api: Chat Completions ("chat", the
// default when a provider does not say) or the Responses API ("responses"). The thread's
// conversation is stored in one format, Chat Completions messages; for the Responses API it is
// translated into `instructions` and input items on every call (stateless: `store: false`, the
// whole history sent, no previous_response_id), and the response is translated back into one
// stored assistant message. So a thread may even change wire_api between turns.
import type OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionFunctionTool,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type {
  FunctionTool,
  Response,
  ResponseCreateParamsNonStreaming,
  ResponseInputItem,
} from 'openai/resources/responses/responses';
import type { Usage } from '@paddock/contracts';

export type Wire = 'chat' | 'responses';

/** The provider's wire: the Responses API unless it says `wire_api = "chat"` (Codex's default, issue 15). */
export const wireOf = (provider: { wire_api?: Wire | undefined }): Wire => provider.wire_api ?? 'responses';

export type ModelRequest = {
  model: string;
  /** The conversation, as stored: Chat Completions messages. */
  messages: ChatCompletionMessageParam[];
  tools: ChatCompletionFunctionTool[];
};

/** One model answer in the stored shape, whichever wire it came over. */
export type ModelStep = {
  message: { role: 'assistant'; content: string | null; tool_calls?: ChatCompletionMessageFunctionToolCall[] };
  usage: Required<Usage>;
  /** The reasoning summaries the model returned (Responses `reasoning` items): shown, never sent back. */
  reasoning?: string[];
};

/** The provider answered, but with nothing the loop can use (a failed response, no message). */
export class ModelReplyError extends Error {
  override name = 'ModelReplyError';
}

/** The text of a message's content (a string, or text parts; other parts are never stored). */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .flatMap((p: { type?: unknown; text?: unknown }) => (p?.type === 'text' && typeof p.text === 'string' ? [p.text] : []))
    .join('');
}

/**
 * Stored messages → Responses input: the leading system (or developer) messages become
 * `instructions`; user and assistant text become message items; an assistant's tool calls become
 * `function_call` items and each tool answer a `function_call_output` with the same call_id.
 */
export function toResponsesInput(messages: ChatCompletionMessageParam[]): {
  instructions: string | undefined;
  input: ResponseInputItem[];
} {
  const instructions: string[] = [];
  const input: ResponseInputItem[] = [];
  for (const m of messages) {
    switch (m.role) {
      case 'system':
      case 'developer':
        if (input.length === 0) instructions.push(textOf(m.content));
        else input.push({ type: 'message', role: m.role, content: textOf(m.content) });
        break;
      case 'user':
        input.push({ type: 'message', role: 'user', content: textOf(m.content) });
        break;
      case 'assistant': {
        const text = textOf(m.content);
        if (text) input.push({ type: 'message', role: 'assistant', content: text });
        for (const call of m.tool_calls ?? []) {
          if (call.type !== 'function') continue; // the loop stores function calls only
          input.push({
            type: 'function_call',
            call_id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
          });
        }
        break;
      }
      case 'tool':
        input.push({ type: 'function_call_output', call_id: m.tool_call_id, output: textOf(m.content) });
        break;
      case 'function': // the legacy function role is never stored
        break;
    }
  }
  return { instructions: instructions.length > 0 ? instructions.join('\n\n') : undefined, input };
}

/**
 * A Chat Completions function tool as a Responses function tool. `strict` is sent as the tool says
 * (false when unset): the Responses API would otherwise make it strict, which needs every property
 * required.
 */
export function toResponsesTool(tool: ChatCompletionFunctionTool): FunctionTool {
  const f = tool.function;
  return {
    type: 'function',
    name: f.name,
    description: f.description ?? null,
    parameters: f.parameters ?? null,
    strict: f.strict ?? false,
  };
}

export function toResponsesParams(req: ModelRequest): ResponseCreateParamsNonStreaming {
  const { instructions, input } = toResponsesInput(req.messages);
  return {
    model: req.model,
    ...(instructions !== undefined ? { instructions } : {}),
    input,
    tools: req.tools.map(toResponsesTool),
    store: false,
  };
}

/**
 * A response → the stored assistant message: the text of its message items (joined by a blank
 * line when there are several), its function calls as tool calls with the same ids, and its usage.
 * Reasoning summaries come back beside the message (for the thread's `reasoning` items) and are not
 * stored in the conversation; refusals are not kept, as on the chat wire.
 */
export function fromResponse(r: Response): ModelStep {
  if (r.error || r.status === 'failed') {
    throw new ModelReplyError(`the model's response failed: ${r.error?.message ?? r.status}`);
  }
  const texts: string[] = [];
  const calls: ChatCompletionMessageFunctionToolCall[] = [];
  const reasoning: string[] = [];
  for (const item of r.output) {
    if (item.type === 'reasoning') {
      const summary = (item.summary ?? []).map((s) => s.text).filter((t) => t.trim() !== '').join('\n\n');
      if (summary) reasoning.push(summary);
    } else if (item.type === 'message') {
      const text = item.content.flatMap((c) => (c.type === 'output_text' ? [c.text] : [])).join('');
      if (text) texts.push(text);
    } else if (item.type === 'function_call') {
      calls.push({ id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } });
    }
  }
  return {
    message: {
      role: 'assistant',
      content: texts.length > 0 ? texts.join('\n\n') : null,
      ...(calls.length > 0 ? { tool_calls: calls } : {}),
    },
    usage: {
      input_tokens: r.usage?.input_tokens ?? 0,
      cached_input_tokens: r.usage?.input_tokens_details?.cached_tokens ?? 0,
      output_tokens: r.usage?.output_tokens ?? 0,
    },
    ...(reasoning.length > 0 ? { reasoning } : {}),
  };
}

export function fromChatCompletion(completion: ChatCompletion): ModelStep {
  const message = completion.choices[0]?.message;
  if (!message) throw new ModelReplyError('the model answered without a message');
  const calls = (message.tool_calls ?? []).filter((c) => c.type === 'function');
  return {
    message: {
      role: 'assistant',
      content: message.content ?? null,
      ...(calls.length > 0 ? { tool_calls: calls } : {}),
    },
    usage: {
      input_tokens: completion.usage?.prompt_tokens ?? 0,
      cached_input_tokens: completion.usage?.prompt_tokens_details?.cached_tokens ?? 0,
      output_tokens: completion.usage?.completion_tokens ?? 0,
    },
  };
}

/** One model call over `wire`. */
export async function callModel(client: OpenAI, wire: Wire, req: ModelRequest, signal: AbortSignal): Promise<ModelStep> {
  if (wire === 'responses') return fromResponse(await client.responses.create(toResponsesParams(req), { signal }));
  return fromChatCompletion(
    await client.chat.completions.create({ model: req.model, messages: req.messages, tools: req.tools }, { signal }),
  );
}
