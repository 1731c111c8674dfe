// Every key of Codex's config.toml (`ConfigToml`, 0.169.0) and requirements.toml (`ConfigRequirementsToml`)
// with its fate here: implemented (same meaning), not applicable (accepted, reported in `ignored_keys`),
// or refused (with the reason). A key in neither Codex's schemas nor Paddock's stays an unknown-key error.

export type CodexKeyFate = 'implemented' | 'not_applicable' | 'refused';
export type CodexKey = { fate: CodexKeyFate; note: string };

const impl = (note: string): CodexKey => ({ fate: 'implemented', note });
const na = (note: string): CodexKey => ({ fate: 'not_applicable', note });
const refused = (note: string): CodexKey => ({ fate: 'refused', note });

const NO_MCP = na('Paddock has no MCP client');
const LOCAL = na("state of Codex's local CLI/TUI; a Paddock thread lives in the cluster");
const NO_CHATGPT = na('no ChatGPT login: model keys are the operator\'s environment variables');
const NOT_YET = na('accepted; not sent to the model yet (the agent loop has no such setting)');

/**
 * Codex's config keys, dotted; `*` stands for any one key of a map (a provider id, a profile name).
 * The longest matching entry decides; an entry's fate covers the whole table under it unless a longer
 * entry says otherwise. Keys Paddock adds of its own (`network`, `rules`) are not listed.
 */
export const CODEX_CONFIG_KEYS: Record<string, CodexKey> = {
  model: impl('model slug, within requirement allowed_models'),
  review_model: na('no /review command'),
  model_provider: impl("one of the cluster's [model_providers]"),
  model_context_window: NOT_YET,
  model_auto_compact_token_limit: na('the agent loop does not compact history'),
  model_auto_compact_token_limit_scope: na('the agent loop does not compact history'),
  approval_policy: impl('untrusted | on-request | never; legacy on-failure is on-request; granular form mapped (see decisions)'),
  approvals_reviewer: impl('user | auto_review; legacy guardian_subagent is auto_review'),
  auto_review: impl('[auto_review]'),
  'auto_review.policy': impl("cluster file: replaces the guardian's default policy; tenant layers: guidance added to it"),
  shell_environment_policy: na("commands get the sandbox's fixed environment; the host's is never inherited"),
  allow_login_shell: na('commands run through the sandbox launcher, not a login shell'),
  sandbox_mode: impl('read-only | workspace-write | danger-full-access (Paddock default: workspace-write)'),
  sandbox_workspace_write: impl('[sandbox_workspace_write]'),
  'sandbox_workspace_write.writable_roots': impl('extra writable roots; relative ones resolve against the workspace'),
  'sandbox_workspace_write.network_access': impl('commands get the network through the egress proxy (private addresses stay blocked)'),
  'sandbox_workspace_write.exclude_tmpdir_env_var': na("the sandbox's /tmp and $TMPDIR are its own tmpfs, never the host's"),
  'sandbox_workspace_write.exclude_slash_tmp': na("the sandbox's /tmp is its own tmpfs, never the host's"),
  default_permissions: na('no permission profiles: sandbox_mode and [network] say what commands may do'),
  permissions: na('no permission profiles'),
  notify: na('runs a program on the user\'s machine; Paddock streams events instead'),
  instructions: na("legacy base instructions; the agent's system prompt is the operator's"),
  developer_instructions: NOT_YET,
  include_permissions_instructions: na("Codex's prompt assembly"),
  include_apps_instructions: na("Codex's prompt assembly"),
  include_collaboration_mode_instructions: na("Codex's prompt assembly"),
  include_environment_context: na("Codex's prompt assembly"),
  model_instructions_file: na("a path on the user's machine"),
  compact_prompt: na('the agent loop does not compact history'),
  experimental_compact_prompt_file: na("a path on the user's machine"),
  forced_chatgpt_workspace_id: NO_CHATGPT,
  forced_login_method: NO_CHATGPT,
  cli_auth_credentials_store: NO_CHATGPT,
  chatgpt_base_url: NO_CHATGPT,
  apps_mcp_product_sku: NO_CHATGPT,
  openai_base_url: na("the operator's [model_providers.openai].base_url says where OpenAI is"),
  mcp_servers: NO_MCP,
  mcp_oauth_credentials_store: NO_MCP,
  mcp_oauth_callback_port: NO_MCP,
  mcp_oauth_callback_url: NO_MCP,
  model_providers: impl('the model endpoints the cluster trusts; cluster file only'),
  'model_providers.*': impl('one provider'),
  'model_providers.*.name': impl('display name'),
  'model_providers.*.base_url': impl('OpenAI-compatible base URL (required here: a cluster provider needs an address)'),
  'model_providers.*.env_key': impl('environment variable holding the API key'),
  'model_providers.*.wire_api': impl('responses (the default, as in Codex) or chat (Paddock keeps Chat Completions)'),
  'model_providers.*.request_timeout_ms': impl("Paddock's own: the budget of one model request"),
  'model_providers.*.query_params': impl('extra query parameters on every request (e.g. Azure api-version)'),
  'model_providers.*.http_headers': impl('static extra headers on every request'),
  'model_providers.*.env_http_headers': impl('header name -> environment variable holding its value'),
  'model_providers.*.request_max_retries': impl('retries of a failed model request'),
  'model_providers.*.env_key_instructions': na('help text for a missing key: the operator sets keys, members never see it'),
  'model_providers.*.stream_max_retries': na('the agent loop does not stream model responses'),
  'model_providers.*.stream_idle_timeout_ms': na('the agent loop does not stream model responses'),
  'model_providers.*.websocket_connect_timeout_ms': na('no WebSocket transport'),
  'model_providers.*.supports_websockets': na('no WebSocket transport'),
  'model_providers.*.requires_openai_auth': NO_CHATGPT,
  'model_providers.*.auth': refused('runs a command to get a token; a cluster takes keys from environment variables'),
  'model_providers.*.aws': na('no SigV4 signing'),
  'model_providers.*.experimental_bearer_token': refused('a secret in a config file; name an environment variable with env_key'),
  project_doc_max_bytes: NOT_YET,
  project_doc_fallback_filenames: NOT_YET,
  tool_output_token_limit: na('output is capped in bytes: [sandbox_worker] output caps'),
  background_terminal_max_timeout: na('no background terminals'),
  js_repl_node_path: na('deprecated and ignored by Codex'),
  js_repl_node_module_dirs: na('deprecated and ignored by Codex'),
  profile: impl('selects one of [profiles]: its keys are read over the layer'),
  profiles: impl('named presets: each key has the fate of the same top-level key'),
  history: LOCAL,
  sqlite_home: LOCAL,
  sqlite: LOCAL,
  log_dir: LOCAL,
  debug: LOCAL,
  file_opener: LOCAL,
  tui: LOCAL,
  hide_agent_reasoning: na('the codex event view always carries reasoning items the model returns'),
  show_raw_agent_reasoning: na('raw reasoning is never stored or streamed'),
  model_reasoning_effort: NOT_YET,
  plan_mode_reasoning_effort: na('no plan mode'),
  model_reasoning_summary: NOT_YET,
  model_reasoning_summary_format: na('not a Codex 0.169.0 key (ignored by Codex too)'),
  model_verbosity: NOT_YET,
  model_supports_reasoning_summaries: NOT_YET,
  model_catalog_json: na("a path on the user's machine"),
  personality: na("Codex's prompt personalities"),
  service_tier: NOT_YET,
  audio: na('no realtime voice'),
  realtime: na('no realtime voice'),
  experimental_realtime_ws_base_url: na('no realtime voice'),
  experimental_realtime_ws_model: na('no realtime voice'),
  experimental_realtime_ws_backend_prompt: na('no realtime voice'),
  experimental_thread_config_endpoint: na('threads are stored by the cluster'),
  experimental_thread_store: na('threads are stored by the cluster'),
  experimental_thread_store_endpoint: na('threads are stored by the cluster'),
  experimental_instructions_file: na('deprecated and ignored by Codex'),
  experimental_use_freeform_apply_patch: na('no apply_patch tool variant to choose'),
  experimental_use_unified_exec_tool: na('one exec tool'),
  projects: na("trust levels of paths on the user's machine; the workspace is the project"),
  web_search: na('no web search tool'),
  tools: na('no optional tools (web search, view_image, request_user_input)'),
  tool_suggest: na('no tool suggestions'),
  agents: na('no sub-agents'),
  memories: na('no memories'),
  skills: na('no skills'),
  hooks: na('no lifecycle hooks'),
  plugins: na('no plugins'),
  marketplaces: na('no plugins'),
  apps: na('no ChatGPT apps'),
  desktop: LOCAL,
  features: na("Codex's feature flags: none changes what Paddock does"),
  suppress_unstable_features_warning: na("Codex's feature flags"),
  ghost_snapshot: na('legacy no-op in Codex'),
  project_root_markers: na('no .codex discovery: the workspace is the project'),
  check_for_update_on_startup: LOCAL,
  disable_paste_burst: LOCAL,
  analytics: na("telemetry is the operator's (OTLP, Prometheus)"),
  feedback: na("telemetry is the operator's"),
  otel: na("telemetry is the operator's (OTLP, Prometheus)"),
  windows: na('no Windows sandbox'),
  notice: LOCAL,
  oss_provider: na('no --oss flag: providers are the cluster file\'s'),
  zsh_path: na('commands run through the sandbox launcher'),
  include_apply_patch_tool: na('one file-edit tool'),
  tools_view_image: na('no view_image tool'),
  openai_file_api_base_url: NO_CHATGPT,
};

/** Codex's requirements.toml keys (the tenant's managed requirements here). */
export const CODEX_REQUIREMENTS_KEYS: Record<string, CodexKey> = {
  allowed_approval_policies: impl("allowed approval_policy values; Codex's legacy on-failure is on-request"),
  allowed_approvals_reviewers: impl('allowed approvals_reviewer values; guardian_subagent is auto_review'),
  allowed_sandbox_modes: impl('allowed sandbox modes; external-sandbox is not a mode here (ignored in the list)'),
  allowed_permissions: na('no permission profiles (ignored by Codex 0.169.0 too)'),
  allowed_permission_profiles: na('no permission profiles'),
  remote_sandbox_config: na("per-hostname overrides for developer machines"),
  allowed_web_search_modes: na('no web search tool'),
  allow_managed_hooks_only: na('no hooks'),
  allow_appshots: na('no app screenshots'),
  computer_use: na('no computer use'),
  allow_browser_and_computer_use: na('no computer use'),
  allow_remote_control: na('no remote control'),
  features: na("Codex's feature flags"),
  feature_requirements: na("Codex's feature flags"),
  hooks: na('no hooks'),
  mcp_servers: NO_MCP,
  plugins: na('no plugins'),
  apps: na('no ChatGPT apps'),
  rules: impl('[rules] prefix_rules: token / any_of patterns, prompt or forbidden, justification; merged with every layer, strictest wins'),
  'rules.prefix_rules': impl('the managed prefix rules'),
  enforce_residency: na("the model provider is the operator's"),
  experimental_network: impl('managed network: enabled and the domain lists map to the network ceilings'),
  'experimental_network.enabled': impl('false: allowed_network_modes = ["off"]'),
  'experimental_network.domains': impl('"allow" entries are the domain ceiling (allowed_domains); "deny" entries are refused for every layer'),
  'experimental_network.allowed_domains': impl('legacy form of domains = "allow"'),
  'experimental_network.denied_domains': impl('legacy form of domains = "deny"'),
  'experimental_network.managed_allowed_domains_only': impl('true: no layer may allow a domain outside the managed list (the ceiling always holds here)'),
  'experimental_network.http_port': na("the egress proxy is the operator's"),
  'experimental_network.socks_port': na("the egress proxy is the operator's"),
  'experimental_network.allow_upstream_proxy': na("the egress proxy is the operator's"),
  'experimental_network.dangerously_allow_non_loopback_proxy': na("the egress proxy is the operator's"),
  'experimental_network.dangerously_allow_all_unix_sockets': na('sandboxes get no unix sockets of the host'),
  'experimental_network.unix_sockets': na('sandboxes get no unix sockets of the host'),
  'experimental_network.allow_unix_sockets': na('sandboxes get no unix sockets of the host'),
  'experimental_network.allow_local_binding': na("the sandbox's loopback is its own"),
  network_proxy: na("the egress proxy is the operator's"),
  permissions: na('no permission profiles (deny_read: not yet)'),
  guardian_policy_config: impl("the workspace's managed guardian policy: added to the guardian's, never replacing it"),
  guardian_extra_policy: na('meaning beyond its name not established (Codex 0.169.0)'),
  config_server: na('config comes from the cluster'),
  allowed_login_methods: NO_CHATGPT,
  allowed_chatgpt_workspaces: NO_CHATGPT,
  unsafe_enforce_sqlite_journal_mode: LOCAL,
  additional_developer_instructions: NOT_YET,
};

/** The entry deciding `path` (segments), or undefined when no Codex key covers it. */
export function codexKeyAt(table: Record<string, CodexKey>, path: readonly string[]): { key: string; entry: CodexKey } | undefined {
  for (let n = path.length; n >= 1; n--) {
    const prefix = path.slice(0, n);
    for (const [key, entry] of Object.entries(table)) {
      const parts = key.split('.');
      if (parts.length === n && parts.every((p, i) => p === '*' || p === prefix[i])) return { key, entry };
    }
  }
  return undefined;
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Takes the not-applicable Codex keys out of a layer: returns the rest and the dotted paths it took
 * (`ignored_keys`). Refused keys stay (the schema refuses them; `refusedCodexKeys` says why).
 */
export function withoutInapplicableKeys(
  table: Record<string, CodexKey>,
  value: Record<string, unknown>,
  known: (path: readonly string[]) => boolean,
  prefix: string[] = [],
): { value: Record<string, unknown>; ignored: string[] } {
  const out: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = [...prefix, key];
    // What Paddock's schema knows is never taken out (Paddock's own keys included).
    if (!known(path) && codexKeyAt(table, path)?.entry.fate === 'not_applicable') {
      ignored.push(path.join('.'));
      continue;
    }
    if (isTable(child)) {
      const inner = withoutInapplicableKeys(table, child, known, path);
      out[key] = inner.value;
      ignored.push(...inner.ignored);
    } else {
      out[key] = child;
    }
  }
  return { value: out, ignored };
}

/** Issues for the refused Codex keys a layer sets (so the message says why, not "unknown key"). */
export function refusedCodexKeys(table: Record<string, CodexKey>, value: Record<string, unknown>, prefix: string[] = []): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = [...prefix, key];
    const hit = codexKeyAt(table, path);
    if (hit?.entry.fate === 'refused' && hit.key.split('.').length === path.length) {
      out.push({ path: path.join('.'), message: `refused: ${hit.entry.note}` });
    } else if (isTable(child)) {
      out.push(...refusedCodexKeys(table, child, path));
    }
  }
  return out;
}
