// The review model call through the `openai` SDK: one budget (the deadline) covers every attempt,
// transient errors are retried only inside it, and the request is aborted when it passes.
// Results are values: the reviewer maps each to an outcome, never to `approved` by default. An answer
// that does not parse is asked again once, in the same conversation, while the deadline allows.
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import type { ReviewPrompt } from './prompt.ts';
import { MODEL_ANSWER_SCHEMA, type ModelAnswer, parseModelAnswer } from './verdict.ts';

export type ModelCallResult =
  | { kind: 'answer'; answer: ModelAnswer; model: string; latencyMs: number; attempts: number }
  | {
      kind: 'failed';
      reason: 'model_error' | 'model_unreachable' | 'refusal' | 'unparseable' | 'schema_invalid';
      detail: string;
      latencyMs: number;
      attempts: number;
    }
  | { kind: 'timed_out'; detail: string; latencyMs: number; attempts: number };

export type ModelCallOptions = {
  baseUrl: string;
  model: string;
  apiKey: string | undefined;
  maxRetries: number;
  retryBackoffMs: number;
  /** Told about every attempt's connection outcome: feeds readiness. */
  onReachability?: (reachable: boolean) => void;
};

export type ModelCaller = {
  readonly model: string;
  call(prompt: ReviewPrompt, deadlineAt: number): Promise<ModelCallResult>;
};

/** The follow-up after an answer that did not parse (the retry happens once per review). */
export const PARSE_RETRY_PROMPT =
  'Your previous answer could not be read as the verdict. Reply with only the JSON object the response format asks for, e.g. {"outcome":"allow"} or {"risk_level":"high","user_authorization":"unknown","outcome":"deny","rationale":"..."}';

const isTransient = (err: unknown): boolean =>
  err instanceof APIConnectionError ||
  (err instanceof APIError &&
    err.status !== undefined &&
    (err.status === 408 || err.status === 409 || err.status === 429 || err.status >= 500));

export function createModelCaller(opts: ModelCallOptions): ModelCaller {
  const client = new OpenAI({
    baseURL: opts.baseUrl,
    // Local OpenAI-compatible servers often need no key; the SDK insists on a string.
    apiKey: opts.apiKey ?? 'unset',
    maxRetries: 0, // retries are ours, inside the deadline
    timeout: 600_000, // the deadline's AbortSignal is the budget, not the SDK's per-attempt timeout
  });
  return {
    model: opts.model,
    async call(prompt, deadlineAt) {
      const startedAt = performance.now();
      const remaining = () => deadlineAt - performance.now();
      // A cleared timer rather than AbortSignal.timeout: at thousands of reviews per second, timers
      // left to fire after the call ended cost real CPU.
      const budget = new AbortController();
      const timer = setTimeout(
        () => budget.abort(new Error('review deadline passed')),
        Math.max(1, remaining()),
      );
      const signal = budget.signal;
      const done = <T extends object>(r: T, attempts: number) => {
        clearTimeout(timer);
        return { ...r, latencyMs: performance.now() - startedAt, attempts };
      };
      let lastError = '';
      const messages: { role: 'system' | 'user' | 'assistant'; content: string }[] = [...prompt.messages];
      let parseRetried = false;
      for (let attempt = 1; ; attempt++) {
        try {
          const completion = await client.chat.completions.create(
            {
              model: opts.model,
              messages,
              temperature: 0,
              response_format: {
                type: 'json_schema',
                // Codex's schema (only `outcome` required) and, as Codex sends it, not strict.
                json_schema: { name: 'guardian_verdict', strict: false, schema: { ...MODEL_ANSWER_SCHEMA } },
              },
            },
            { signal },
          );
          opts.onReachability?.(true);
          const message = completion.choices[0]?.message;
          if (message?.refusal) {
            return done(
              { kind: 'failed', reason: 'refusal', detail: `model refused: ${message.refusal}` } as const,
              attempt,
            );
          }
          if (typeof message?.content !== 'string' || completion.choices[0]?.finish_reason === 'length') {
            return done(
              {
                kind: 'failed',
                reason: 'unparseable',
                detail: 'model answered without a complete JSON verdict',
              } as const,
              attempt,
            );
          }
          const parsed = parseModelAnswer(message.content);
          if (!parsed.ok && !parseRetried && remaining() > 0) {
            // Codex retries an unparseable assessment in the same review conversation: the bad answer
            // stays, then a request for the JSON object alone. Once here: the deadline is shared.
            parseRetried = true;
            messages.push(
              { role: 'assistant', content: message.content },
              { role: 'user', content: `${PARSE_RETRY_PROMPT} (${parsed.detail})` },
            );
            continue;
          }
          if (!parsed.ok)
            return done({ kind: 'failed', reason: parsed.reason, detail: parsed.detail } as const, attempt);
          return done(
            { kind: 'answer', answer: parsed.answer, model: completion.model || opts.model } as const,
            attempt,
          );
        } catch (err) {
          if (signal.aborted || err instanceof APIUserAbortError) {
            return done(
              {
                kind: 'timed_out',
                detail: `no model verdict before the deadline${lastError ? ` (earlier: ${lastError})` : ''}`,
              } as const,
              attempt,
            );
          }
          if (err instanceof APIConnectionError) opts.onReachability?.(false);
          else if (err instanceof APIError) opts.onReachability?.(true);
          lastError = err instanceof APIError && err.status ? `HTTP ${err.status}` : (err as Error).message;
          if (!(err instanceof APIError)) {
            // A 200 whose body is not JSON: the SDK's parse failed. Not transient.
            return done(
              {
                kind: 'failed',
                reason: 'unparseable',
                detail: `model response unreadable: ${lastError}`,
              } as const,
              attempt,
            );
          }
          // The parse retry is not one of the transient-error retries.
          const transientAttempt = attempt - (parseRetried ? 1 : 0);
          const backoffMs = opts.retryBackoffMs * 2 ** (transientAttempt - 1);
          // Retry only when the next attempt can still start inside the deadline.
          if (!isTransient(err) || transientAttempt > opts.maxRetries || remaining() <= backoffMs) {
            const reason = err instanceof APIConnectionError ? 'model_unreachable' : 'model_error';
            return done(
              {
                kind: 'failed',
                reason,
                detail: `model call failed after ${attempt} attempt(s): ${lastError}`,
              } as const,
              attempt,
            );
          }
          try {
            await sleep(backoffMs, undefined, { signal });
          } catch {
            return done(
              {
                kind: 'timed_out',
                detail: `no model verdict before the deadline (earlier: ${lastError})`,
              } as const,
              attempt,
            );
          }
        }
      }
    },
  };
}
