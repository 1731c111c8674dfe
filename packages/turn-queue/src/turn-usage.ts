// A turn's end, recorded once: its usage into the analytics day bucket (recordTurnUsage, exactly once
// per turn id) and, only when that call counted it, its compliance record (`turn.finished` in the
// workspace audit log). The consumer calls it at every end it sees — completed, failed, interrupted,
// and a redelivered turn failed as worker_lost — so a redelivered or resumed turn is never counted twice.
import type { Redis } from 'ioredis';
import { appendAudit, emitWebhookEvent, recordTurnUsage, type TurnJob } from '@paddock/contracts';

/** What the turn runner measured; it adds to these as the turn goes (all start at 0). */
export type TurnMeasures = {
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  /** Command output bytes the turn's output budget granted (what its events carry). */
  output_bytes: number;
  /** Bytes through the egress proxy (in + out) for the turn's sandbox, across the turn. */
  egress_bytes: number;
  /** The sandbox container's cgroup CPU time used across the turn. */
  sandbox_cpu_ms: number;
  /** 0 until turns report changed files (the cloud-task issue); the field is wired end to end. */
  files_changed: number;
};

export const emptyMeasures = (): TurnMeasures => ({
  input_tokens: 0,
  cached_input_tokens: 0,
  output_tokens: 0,
  output_bytes: 0,
  egress_bytes: 0,
  sandbox_cpu_ms: 0,
  files_changed: 0,
});

/** The operator's [analytics] section in the consumer's terms: credits per unit, retention. */
export type UsagePricing = {
  retentionDays: number;
  sandboxCpuSecondCredits: number;
  prices: Record<
    string,
    { input_per_million?: number; cached_input_per_million?: number; output_per_million?: number }
  >;
};

export const NO_PRICING: UsagePricing = { retentionDays: 100, sandboxCpuSecondCredits: 0, prices: {} };

/**
 * Micro-credits of one turn. `input_tokens` includes the cached ones (as OpenAI reports them): the
 * cached part is priced at `cached_input_per_million`, the rest at `input_per_million`. A model
 * without a price row costs nothing for tokens; sandbox CPU is priced per CPU-second for every turn.
 */
export function creditsMicro(pricing: UsagePricing, model: string | undefined, m: TurnMeasures): number {
  const p = (model !== undefined && Object.hasOwn(pricing.prices, model) ? pricing.prices[model] : undefined) ?? {};
  const cached = Math.min(m.cached_input_tokens, m.input_tokens);
  // Per million tokens, in micro-credits: price × tokens (the 1e6s cancel).
  const tokenMicro =
    (p.input_per_million ?? 0) * (m.input_tokens - cached) +
    (p.cached_input_per_million ?? 0) * cached +
    (p.output_per_million ?? 0) * m.output_tokens;
  const cpuMicro = pricing.sandboxCpuSecondCredits * m.sandbox_cpu_ms * 1000;
  return Math.round(tokenMicro + cpuMicro);
}

export type TurnEnd = {
  status: 'completed' | 'failed' | 'interrupted';
  /** Epoch ms; a turn failed as worker_lost has no start this worker saw (the end stands for it). */
  startedAtMs: number;
  endedAtMs: number;
  measures: TurnMeasures;
  error?: { code: string; message: string };
};

/** Records the turn's end; true when this call counted it (false: counted before, nothing written). */
export async function recordTurnEnd(
  redis: Redis,
  job: TurnJob,
  end: TurnEnd,
  pricing: UsagePricing,
): Promise<boolean> {
  const m = end.measures;
  const wallMs = Math.max(0, end.endedAtMs - end.startedAtMs);
  const credits = creditsMicro(pricing, job.config.model, m);
  const member = job.created_by ?? '';
  const client = job.client ?? 'api';
  const counted = await recordTurnUsage(
    redis,
    {
      workspaceId: job.workspace_id,
      threadId: job.thread_id,
      turnId: job.turn_id,
      member,
      client,
      endedAtMs: end.endedAtMs,
      metrics: { ...m, sandbox_wall_ms: wallMs, credits_micro: credits },
    },
    pricing.retentionDays,
  );
  if (!counted) return false;
  // The compliance record: who ran it, when, with which model, and how much content it processed.
  await appendAudit(redis, job.workspace_id, { email: 'worker', tokenId: null }, 'turn.finished', job.turn_id, {
    thread_id: job.thread_id,
    created_by: member,
    client,
    model: job.config.model,
    model_provider: job.config.model_provider,
    status: end.status,
    ...(end.error ? { error_code: end.error.code } : {}),
    started_at: new Date(end.startedAtMs).toISOString(),
    ended_at: new Date(end.endedAtMs).toISOString(),
    input_tokens: m.input_tokens,
    cached_input_tokens: m.cached_input_tokens,
    output_tokens: m.output_tokens,
    output_bytes: m.output_bytes,
    egress_bytes: m.egress_bytes,
    files_changed: m.files_changed,
    sandbox_wall_ms: wallMs,
    sandbox_cpu_ms: m.sandbox_cpu_ms,
    credits_micro: credits,
  });
  // Exactly once per turn (behind the counted guard), never awaited: a webhook never holds a turn's end.
  void emitWebhookEvent(redis, job.workspace_id, { type: end.status === 'completed' ? 'turn.completed' : 'turn.failed', data: { thread_id: job.thread_id, turn_id: job.turn_id, status: end.status, ...(end.error ? { error: end.error } : {}), usage: { input_tokens: m.input_tokens, output_tokens: m.output_tokens } } });
  return true;
}
