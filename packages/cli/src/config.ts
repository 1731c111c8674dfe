// Where the CLI finds its API and token: PADDOCK_URL / PADDOCK_TOKEN first, else the config file
// `$PADDOCK_CONFIG_DIR/config.json` (default ~/.config/paddock/config.json), always written 0600 in a
// 0700 folder because it holds a secret. Never reads a path, URL or variable named by the server.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type CliConfig = {
  url?: string;
  token?: string;
  /** The environment `exec` and `run` use without --env (id). */
  environment?: string;
  /** Where the operator key is for `workspaces create` (first start writes its local one here). */
  operator_key_file?: string;
  /** The thread the last `exec`/`run` created: `diff` and `apply` default to it. */
  last_thread?: string;
};

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['PADDOCK_CONFIG_DIR']) return env['PADDOCK_CONFIG_DIR'];
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'paddock');
}

export const configPath = (env: NodeJS.ProcessEnv = process.env) => join(configDir(env), 'config.json');

export function readConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  let text: string;
  try {
    text = readFileSync(configPath(env), 'utf8');
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as CliConfig;
  } catch {
    throw new Error(`${configPath(env)} is not valid JSON: fix it or run \`paddock login\` again`);
  }
}

/** Merges `update` into the file (atomically: a temp file renamed over it), mode 0600. */
export function writeConfig(update: CliConfig, env: NodeJS.ProcessEnv = process.env): string {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = configPath(env);
  const next = { ...readConfig(env), ...update };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

export type Connection = { url: string; token: string };

/** The API and token to use, or an error naming what to set. */
export function connection(env: NodeJS.ProcessEnv = process.env): Connection {
  const file = readConfig(env);
  const url = env['PADDOCK_URL'] || file.url;
  const token = env['PADDOCK_TOKEN'] || file.token;
  if (!url) throw new UsageError('no API URL: run `paddock login --url URL`, or set PADDOCK_URL');
  if (!token) throw new UsageError('no token: run `paddock login` (reads the token from stdin), or set PADDOCK_TOKEN');
  return { url: url.replace(/\/+$/, ''), token };
}

/** A mistake in how the CLI was called or set up: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
