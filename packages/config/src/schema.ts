// The configuration schema: the agent settings (Codex's key names), the tenant's managed requirements,
// and the cluster file's service sections, each key with its owner (`x-owner`, see owners.ts): who may set it.
// TypeBox is the one schema library of the project: the same schemas validate config and HTTP bodies.
import Type, { type Static } from 'typebox';
import { owned } from './owners.ts';
import { AnalyticsSection } from './sections/analytics.ts';
import { EgressProxySection } from './sections/egress-proxy.ts';
import { GuardianSection } from './sections/guardian.ts';
import { OrchestratorSection } from './sections/orchestrator.ts';
import { RedisSection } from './sections/redis.ts';
import { ClusterSection } from './sections/cluster.ts';
import { SandboxWorkerSection } from './sections/sandbox-worker.ts';
import { WebhooksSection } from './sections/webhooks.ts';

export const SANDBOX_MODES = ['read-only', 'workspace-write', 'danger-full-access'] as const;
export const APPROVAL_POLICIES = ['untrusted', 'on-request', 'never'] as const;
export const APPROVALS_REVIEWERS = ['user', 'auto_review'] as const;
export const NETWORK_MODES = ['off', 'allowlist', 'full'] as const;
export const HTTP_METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const RULE_DECISIONS = ['allow', 'prompt', 'forbidden'] as const;
export const WIRE_APIS = ['chat', 'responses'] as const;

export type SandboxMode = (typeof SANDBOX_MODES)[number];
export type ApprovalPolicy = (typeof APPROVAL_POLICIES)[number];
export type ApprovalsReviewer = (typeof APPROVALS_REVIEWERS)[number];
export type NetworkMode = (typeof NETWORK_MODES)[number];
export type RuleDecision = (typeof RULE_DECISIONS)[number];

const oneOf = <T extends readonly string[]>(values: T, description: string) =>
  Type.Enum([...values] as string[] as T[number][], { description });

// `example.com`, `*.example.com` (subdomains only) or `**.example.com` (apex and subdomains).
export const DOMAIN_PATTERN =
  '^(\\*\\*?\\.)?([a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?\\.)*[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?$';
export const ENV_VAR_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';

export const ModelProvider = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'Display name' })),
    base_url: Type.String({
      pattern: '^https?://',
      description: 'OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1',
    }),
    env_key: Type.Optional(
      Type.String({
        pattern: ENV_VAR_NAME,
        description: 'Name of the environment variable that holds the API key',
      }),
    ),
    wire_api: Type.Optional(oneOf(WIRE_APIS, 'responses (Responses API, the default as in Codex) or chat (Chat Completions)')),
    request_timeout_ms: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Budget for one model request' }),
    ),
    query_params: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: "Extra query parameters on every request (Codex's key, e.g. Azure api-version)" }),
    ),
    http_headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: "Static extra headers on every request (Codex's key)" }),
    ),
    env_http_headers: Type.Optional(
      Type.Record(Type.String(), Type.String({ pattern: ENV_VAR_NAME }), {
        description: "Header name -> environment variable holding its value (Codex's key); an unset variable sends no header",
      }),
    ),
    request_max_retries: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 100, description: "Retries of a failed model request (Codex's key)" }),
    ),
  },
  { additionalProperties: false },
);

/** Codex's requirements rule: each pattern token one word or a choice of words. */
export const RequirementPrefixRule = Type.Object(
  {
    pattern: Type.Array(
      Type.Union([
        Type.Object({ token: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
        Type.Object({ any_of: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }) }, { additionalProperties: false }),
      ]),
      { minItems: 1, description: 'argv prefix: [{ token = "git" }, { any_of = ["push", "fetch"] }]' },
    ),
    decision: Type.Enum(['prompt', 'forbidden'], {
      description: 'prompt or forbidden ("allow" is refused in requirements, as Codex refuses it)',
    }),
    justification: Type.Optional(Type.String({ pattern: '\\S', description: 'Why; shown with the decision; may not be blank' })),
    reviewer: Type.Optional(Type.String({ description: "Codex's field; who reviews a prompt is the thread's approvals_reviewer here" })),
  },
  { additionalProperties: false },
);

export const PrefixRule = Type.Object(
  {
    pattern: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'argv prefix, e.g. ["npm", "test"]',
    }),
    decision: oneOf(RULE_DECISIONS, 'allow runs, prompt goes to the reviewer, forbidden never runs'),
    justification: Type.Optional(
      Type.String({ pattern: '\\S', description: "Why (Codex's field): shown with the decision; may not be blank" }),
    ),
  },
  { additionalProperties: false },
);

export const AgentConfig = Type.Object(
  {
    model: Type.Optional(
      owned('member', Type.String({ minLength: 1, description: 'Model name sent to the provider; within requirement allowed_models' })),
    ),
    model_provider: Type.Optional(
      owned('member', Type.String({ minLength: 1, description: "One of the cluster file's [model_providers] names" })),
    ),
    model_providers: Type.Optional(
      owned(
        'operator',
        Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), ModelProvider, {
          description: 'The model endpoints the cluster trusts (base URL, key variable); cluster file only',
        }),
      ),
    ),
    sandbox_mode: Type.Optional(owned('member', oneOf(SANDBOX_MODES, 'What commands may write'))),
    approval_policy: Type.Optional(owned('member', oneOf(APPROVAL_POLICIES, 'When an action needs approval'))),
    approvals_reviewer: Type.Optional(
      owned('member', oneOf(APPROVALS_REVIEWERS, 'Who reviews: a person or the guardian')),
    ),
    sandbox_workspace_write: Type.Optional(
      owned('member', Type.Object(
        {
          writable_roots: Type.Optional(
            Type.Array(Type.String({ pattern: '^/', description: 'must be an absolute path' }), {
              description: 'Extra writable paths',
            }),
          ),
          network_access: Type.Optional(Type.Boolean({ description: 'Commands may use the network' })),
        },
        { additionalProperties: false },
      )),
    ),
    auto_review: Type.Optional(
      owned('member', Type.Object(
        {
          policy: Type.Optional(
            Type.String({
              description:
                "Cluster file: replaces the guardian's default policy. Environment, thread, turn: guidance added to the policy, never replacing it. Blank: ignored",
            }),
          ),
        },
        { additionalProperties: false },
      )),
    ),
    network: Type.Optional(
      owned('member', Type.Object(
        {
          mode: Type.Optional(oneOf(NETWORK_MODES, 'off, allowlist or full')),
          allowed_domains: Type.Optional(Type.Array(Type.String({ pattern: DOMAIN_PATTERN }))),
          denied_domains: Type.Optional(Type.Array(Type.String({ pattern: DOMAIN_PATTERN }))),
          allowed_methods: Type.Optional(Type.Array(oneOf(HTTP_METHODS, 'HTTP method'))),
          allowed_ports: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }))),
        },
        { additionalProperties: false },
      )),
    ),
    rules: Type.Optional(
      owned('member', Type.Array(PrefixRule, { description: 'Prefix rules; strictest match wins' })),
    ),
  },
  { additionalProperties: false },
);
export type AgentConfig = Static<typeof AgentConfig>;

export const Requirements = owned('admin', Type.Object(
  {
    allowed_sandbox_modes: Type.Optional(Type.Array(oneOf(SANDBOX_MODES, 'sandbox mode'), { minItems: 1 })),
    allowed_approval_policies: Type.Optional(
      Type.Array(oneOf(APPROVAL_POLICIES, 'approval policy'), { minItems: 1 }),
    ),
    allowed_approvals_reviewers: Type.Optional(
      Type.Array(oneOf(APPROVALS_REVIEWERS, 'approvals reviewer'), { minItems: 1 }),
    ),
    allowed_models: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: '`model` must be one of these' }),
    ),
    allowed_network_modes: Type.Optional(
      Type.Array(oneOf(NETWORK_MODES, 'network mode'), {
        minItems: 1,
        description: '`network.mode` must be one of these; `sandbox_workspace_write.network_access = true` needs one besides "off"',
      }),
    ),
    allowed_domains: Type.Optional(
      Type.Array(Type.String({ pattern: DOMAIN_PATTERN }), {
        description: 'Domain ceiling: each `network.allowed_domains` pattern must lie inside one of these; `network.mode = "full"` is then refused',
      }),
    ),
    allowed_ports: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
        minItems: 1,
        description: 'Port ceiling: each `network.allowed_ports` entry must be one of these',
      }),
    ),
    allowed_writable_root_prefixes: Type.Optional(
      Type.Array(Type.String({ pattern: '^/', description: 'must be an absolute path' }), {
        description: 'Each `sandbox_workspace_write.writable_roots` entry must be one of these paths or under one',
      }),
    ),
    allow_tenant_allow_rules: Type.Optional(
      Type.Boolean({
        description: 'false: an environment, thread or turn layer may not add a `decision = "allow"` rule (default true)',
      }),
    ),
    max_queued_turns_per_thread: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "Lowers the cluster's [orchestrator] max_queued_turns_per_thread for this workspace (never raises it)",
      }),
    ),
    max_queued_turns_per_workspace: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "Lowers the cluster's [orchestrator] max_queued_turns_per_workspace for this workspace (never raises it)",
      }),
    ),
    workspace_retention_ms: Type.Optional(
      Type.Integer({
        minimum: 1000,
        description: "Lowers the cluster's [sandbox_worker] workspace_retention_ms for this workspace's idle (stopped) workspaces (never raises it)",
      }),
    ),
    allowed_repository_hosts: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' }), {
        description: "Repository host ceiling: a `repository.url`'s host (or host:port) must be one of these, within the cluster's [sandbox_worker] repository_hosts",
      }),
    ),
    guardian_policy_config: Type.Optional(
      Type.String({
        description: "The workspace's managed guardian policy: added to the guardian's policy (never replacing it), above any tenant guidance. Blank: ignored",
      }),
    ),
    denied_domains: Type.Optional(
      Type.Array(Type.String({ pattern: DOMAIN_PATTERN }), {
        description: 'Domains no layer may reach: added to every `network.denied_domains` (also from [experimental_network] "deny")',
      }),
    ),
    rules: Type.Optional(
      Type.Object(
        { prefix_rules: Type.Array(RequirementPrefixRule, { minItems: 1, description: "Codex's managed prefix rules" }) },
        { additionalProperties: false, description: 'Managed rules: merged with every layer\'s, strictest decision wins' },
      ),
    ),
  },
  { additionalProperties: false },
));
export type Requirements = Static<typeof Requirements>;

// Service sections: only the cluster file (and PADDOCK_* environment variables) set these.
// One file per service in sections/, so each service's settings live beside each other.
export const ServiceSections = {
  redis: Type.Optional(owned('operator', RedisSection)),
  orchestrator: Type.Optional(owned('operator', OrchestratorSection)),
  guardian: Type.Optional(owned('operator', GuardianSection)),
  egress_proxy: Type.Optional(owned('operator', EgressProxySection)),
  sandbox_worker: Type.Optional(owned('operator', SandboxWorkerSection)),
  analytics: Type.Optional(owned('operator', AnalyticsSection)),
  webhooks: Type.Optional(owned('operator', WebhooksSection)),
  cluster: Type.Optional(owned('operator', ClusterSection)),
};

export const ClusterFile = Type.Object(
  { ...AgentConfig.properties, ...ServiceSections, requirements: Type.Optional(Requirements) },
  { additionalProperties: false },
);
export type ClusterFile = Static<typeof ClusterFile>;
