// What `npm start` hands each service: an explicit allowlist of the shell's variables (process basics,
// NODE_*, OTEL_*, the cluster's non-secret PADDOCK_* settings, the service's own) plus only the
// secrets that service uses. Anything else in the operator's shell never reaches a service.
import { type ClusterSettings, DEFAULT_AGENT_CONFIG } from '@paddock/config';
import { serviceTokenEnvOf } from '@paddock/contracts';

export const SERVICES = ['guardian', 'egress-proxy', 'sandbox-worker', 'orchestrator'] as const;
export type ServiceName = (typeof SERVICES)[number];

const PROCESS_BASICS = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
const PREFIXES = ['NODE_', 'OTEL_'];
/** Every service reads the whole cluster file, and where each service listens. */
const CLUSTER_SETTINGS = [
  'PADDOCK_CONFIG',
  'PADDOCK_LOG_LEVEL',
  ...['ORCHESTRATOR', 'GUARDIAN', 'EGRESS_PROXY', 'SANDBOX_WORKER'].flatMap((s) => [
    `PADDOCK_${s}_HOST`,
    `PADDOCK_${s}_PORT`,
  ]),
  'PADDOCK_GUARDIAN_URL',
  // The built-in openai provider's endpoint (config's withOpenAiBaseUrl): every service reads it.
  'OPENAI_BASE_URL',
];
const OWN_SETTINGS: Record<ServiceName, string[]> = {
  guardian: ['PADDOCK_GUARDIAN_MODEL', 'PADDOCK_GUARDIAN_MODEL_BASE_URL'],
  'egress-proxy': ['PADDOCK_APPROVAL_TIMEOUT_MS'],
  'sandbox-worker': [
    'PADDOCK_SANDBOX_SCOPE',
    'PADDOCK_SANDBOX_BASE',
    'PADDOCK_REVIEW_DEADLINE_MS',
    'PADDOCK_APPROVAL_TIMEOUT_MS',
    'PADDOCK_OUTPUT_THROTTLE_MS',
    'PADDOCK_TURN_LOCK_MS',
    'DOCKER_HOST',
    'DOCKER_CERT_PATH',
    'DOCKER_TLS_VERIFY',
  ],
  orchestrator: ['PADDOCK_ORCHESTRATOR_METRICS_PORT'],
};

type Provider = { env_key?: string };

/** The names of the secret variables each service needs, from the cluster file. */
export function secretNamesFor(service: ServiceName, settings: ClusterSettings): string[] {
  const file = settings.file;
  const providers = { ...DEFAULT_AGENT_CONFIG.model_providers, ...file.model_providers } as Record<string, Provider>;
  const serviceToken = serviceTokenEnvOf(file);
  switch (service) {
    case 'guardian': {
      const g = file.guardian ?? {};
      const provider = providers[g.model_provider ?? file.model_provider ?? DEFAULT_AGENT_CONFIG.model_provider];
      const keys = [g.api_key_env, provider?.env_key, 'PADDOCK_GUARDIAN_API_KEY'];
      return [serviceToken, ...keys.filter((k): k is string => k !== undefined)];
    }
    case 'sandbox-worker':
      // The agent loop calls the configured providers with their keys.
      return [
        serviceToken,
        ...Object.values(providers)
          .map((p) => p.env_key)
          .filter((k): k is string => k !== undefined),
      ];
    case 'egress-proxy':
      return [serviceToken];
    case 'orchestrator':
      return [settings.orchestrator.operatorKeyEnv];
  }
}

/** The environment of one service: the allowlist taken from `parent`, then `extra` (its Redis URL, generated secrets). */
export function serviceEnv(
  service: ServiceName,
  settings: ClusterSettings,
  parent: NodeJS.ProcessEnv,
  extra: Record<string, string>,
): Record<string, string> {
  const allowed = new Set([
    ...PROCESS_BASICS,
    ...CLUSTER_SETTINGS,
    ...OWN_SETTINGS[service],
    ...secretNamesFor(service, settings),
  ]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    if (allowed.has(name) || PREFIXES.some((p) => name.startsWith(p))) out[name] = value;
  }
  return { ...out, ...extra };
}
