// What `npm start` does once for a new user: an operator key in the data folder (0600), a `local`
// workspace with an owner token and a `default` environment (kept in local.json, 0600), the CLI's
// login written for them; and, at every start, whether the agent's model endpoint answers. Reaches
// only the cluster it started and the operator's configured model URL.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configPath, writeConfig } from '@paddock/cli';
import { type ClusterSettings, DEFAULT_AGENT_CONFIG } from '@paddock/config';

const LOCAL_IMAGE = 'paddock/sandbox-base:latest';
const LOCAL_OWNER = 'you@paddock.local';

function writeSecretFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** `dataDir/operator-key`, generated (0600) when absent. */
export function loadOrCreateOperatorKey(dataDir: string): { key: string; path: string; created: boolean } {
  const path = join(dataDir, 'operator-key');
  if (existsSync(path)) {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    const key = readFileSync(path, 'utf8').trim();
    if (key.length >= 32) return { key, path, created: false };
  }
  const key = `pdo_${randomBytes(32).toString('base64url')}`;
  writeSecretFile(path, `${key}\n`);
  return { key, path, created: true };
}

type LocalState = { workspace_id: string; environment_id: string; token: string };

async function api(apiUrl: string, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown> & { error?: { message?: string } };
  return { status: res.status, json };
}

/**
 * Makes the local workspace once. A later start keeps it, and only rewrites the CLI login when the
 * login file is missing; when the cluster's data is gone (the token is refused) it is made anew.
 */
export async function bootstrapLocal(o: { dataDir: string; apiUrl: string; operatorKey: string }) {
  const statePath = join(o.dataDir, 'local.json');
  const login = (s: LocalState) =>
    writeConfig({ url: o.apiUrl, token: s.token, environment: s.environment_id, operator_key_file: join(o.dataDir, 'operator-key') });
  if (existsSync(statePath)) {
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as LocalState;
    const me = await api(o.apiUrl, 'GET', '/v1/whoami', state.token);
    if (me.status === 200) {
      if (!existsSync(configPath())) login(state);
      return { created: false, workspaceId: state.workspace_id, configPath: configPath() };
    }
  }
  const ws = await api(o.apiUrl, 'POST', '/v1/workspaces', o.operatorKey, { name: 'local', owner_email: LOCAL_OWNER });
  if (ws.status !== 201) throw new Error(`workspace: HTTP ${ws.status} ${ws.json.error?.message ?? ''}`);
  const workspace = ws.json['workspace'] as { id: string };
  const token = (ws.json['owner_token'] as { secret: string }).secret;
  const env = await api(o.apiUrl, 'POST', '/v1/environments', token, { name: 'default', image: LOCAL_IMAGE });
  if (env.status !== 201) throw new Error(`environment: HTTP ${env.status} ${env.json.error?.message ?? ''}`);
  const state: LocalState = { workspace_id: workspace.id, environment_id: env.json['id'] as string, token };
  writeSecretFile(statePath, `${JSON.stringify(state, null, 2)}\n`);
  return { created: true, workspaceId: workspace.id, configPath: login(state) };
}

export type ModelCheck = { answered: boolean; model: string; baseUrl: string; detail: string };

/** Asks the agent's default provider for its model list (free, no tokens spent), within 3 s. */
export async function checkModel(settings: Pick<ClusterSettings, 'file'>, env: NodeJS.ProcessEnv): Promise<ModelCheck> {
  const file = settings.file;
  const providers = { ...DEFAULT_AGENT_CONFIG.model_providers, ...file.model_providers } as Record<string, { base_url: string; env_key?: string }>;
  const name = file.model_provider ?? DEFAULT_AGENT_CONFIG.model_provider;
  const provider = providers[name];
  const model = file.model ?? DEFAULT_AGENT_CONFIG.model;
  if (!provider) return { answered: false, model, baseUrl: '(none)', detail: `no [model_providers.${name}]` };
  const baseUrl = provider.base_url.replace(/\/+$/, '');
  const key = provider.env_key ? env[provider.env_key] : undefined;
  try {
    const res = await fetch(`${baseUrl}/models`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(3000),
    });
    await res.body?.cancel();
    if (res.ok) return { answered: true, model, baseUrl, detail: `HTTP ${res.status}` };
    const why = res.status === 401 || res.status === 403 ? `the key was refused, HTTP ${res.status}${key ? '' : `; ${provider.env_key ?? 'no key variable'} is unset`}` : `HTTP ${res.status}`;
    return { answered: false, model, baseUrl, detail: why };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { answered: false, model, baseUrl, detail: e.cause?.code ?? e.name };
  }
}
