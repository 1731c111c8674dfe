// The guardian's settings: [guardian] of the cluster file, the model provider it names, and the
// PADDOCK_GUARDIAN_* environment overrides; the defaults are the schema's.
import {
  type ClusterSettings,
  ConfigError,
  DEFAULT_AGENT_CONFIG,
  GUARDIAN_UNSET,
  GuardianSection,
  withDefaults,
} from '@paddock/config';
import { requireServiceToken } from '@paddock/contracts';

export type GuardianSettings = {
  host: string;
  port: number;
  baseUrl: string;
  model: string;
  apiKeyEnv: string;
  apiKey: string | undefined;
  /** The bearer secret every POST /v1/reviews must carry (service-token.ts). */
  serviceToken: string;
  maxInFlight: number;
  maxQueue: number;
  expectedModelLatencyMs: number;
  maxDeadlineMs: number;
  maxEventLoopLagMs: number;
  answerMarginMs: number;
  maxRetries: number;
  retryBackoffMs: number;
  highRiskMinAuthorization: 'low' | 'medium' | 'high';
  transcriptMaxChars: number;
  transcriptItemMaxChars: number;
  verdictCacheEntries: number;
  verdictCacheTtlMs: number;
  /** Whose words frame the review: Paddock's prompt, or Codex's guardian policy (0.169.0). */
  policyWording: 'paddock' | 'codex';
};

export function guardianSettings(
  cluster: ClusterSettings,
  env: NodeJS.ProcessEnv = process.env,
): GuardianSettings {
  const file = cluster.file;
  const g = withDefaults(GuardianSection, file.guardian, GUARDIAN_UNSET);
  const source = cluster.configPath ?? 'built-in defaults';
  // Without a configured provider the built-in agent defaults apply (as they do for threads), so a
  // bare `npm start` runs; reviews then fail closed until that endpoint answers.
  const providers = { ...DEFAULT_AGENT_CONFIG.model_providers, ...file.model_providers };
  const providerName = g.model_provider ?? file.model_provider ?? DEFAULT_AGENT_CONFIG.model_provider;
  const provider = (providers as Record<string, { base_url: string; env_key?: string } | undefined>)[providerName];
  if (g.model_provider && !provider) {
    throw new ConfigError([
      { source, path: 'guardian.model_provider', message: `names no [model_providers.${g.model_provider}]` },
    ]);
  }
  const baseUrl = env['PADDOCK_GUARDIAN_MODEL_BASE_URL'] || g.base_url || provider?.base_url;
  const model = env['PADDOCK_GUARDIAN_MODEL'] || g.model || file.model || DEFAULT_AGENT_CONFIG.model;
  const missing = [
    ...(baseUrl
      ? []
      : [
          {
            source,
            path: 'guardian.base_url',
            message: 'no review model endpoint: set it, a model_provider, or PADDOCK_GUARDIAN_MODEL_BASE_URL',
          },
        ]),
    ...(model
      ? []
      : [
          {
            source,
            path: 'guardian.model',
            message: 'no review model: set it, model, or PADDOCK_GUARDIAN_MODEL',
          },
        ]),
  ];
  if (missing.length > 0) throw new ConfigError(missing);
  const apiKeyEnv = g.api_key_env ?? provider?.env_key ?? 'PADDOCK_GUARDIAN_API_KEY';
  return {
    host: cluster.guardian.host,
    port: cluster.guardian.port,
    baseUrl: baseUrl!,
    model: model!,
    apiKeyEnv,
    apiKey: env[apiKeyEnv] || undefined,
    serviceToken: requireServiceToken(cluster, env),
    maxInFlight: g.max_in_flight,
    maxQueue: g.max_queue,
    expectedModelLatencyMs: g.expected_model_latency_ms,
    maxDeadlineMs: g.max_deadline_ms,
    maxEventLoopLagMs: g.max_event_loop_lag_ms,
    answerMarginMs: g.answer_margin_ms,
    maxRetries: g.max_retries,
    retryBackoffMs: g.retry_backoff_ms,
    highRiskMinAuthorization: g.high_risk_min_authorization,
    transcriptMaxChars: g.transcript_max_chars,
    transcriptItemMaxChars: g.transcript_item_max_chars,
    verdictCacheEntries: g.verdict_cache_entries,
    verdictCacheTtlMs: g.verdict_cache_ttl_ms,
    policyWording: g.policy_wording,
  };
}
