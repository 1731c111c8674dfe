// The files every sandbox mounts read-only to run the exec agent: Node's binary (the project's
// Node 24, resolved from the `node` package) and a directory with the agent script and the
// static Landlock launcher, compiled once per content hash into a cache directory. The agent is
// written as plain JavaScript (types stripped here, once): Node's own type stripping loads a WASM
// compiler at every start, several times the CPU of the agent's start in a small sandbox's quota.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire, stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PaddockError } from '@paddock/platform';

const run = promisify(execFile);
const AGENT_SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'agent');

export type AgentRuntime = {
  /** Host path of the Node binary, mounted at NODE_IN_SANDBOX. */
  nodeBinary: string;
  /** Host directory with agent.mjs and pdk-sandbox-exec, mounted at AGENT_DIR_IN_SANDBOX. */
  agentDir: string;
};

export const NODE_IN_SANDBOX = '/opt/paddock/node';
export const AGENT_DIR_IN_SANDBOX = '/opt/paddock/agent';
export const AGENT_COMMAND = [
  NODE_IN_SANDBOX,
  '--disable-warning=ExperimentalWarning',
  '--max-old-space-size=64',
  `${AGENT_DIR_IN_SANDBOX}/agent.mjs`,
];

export function resolveNodeBinary(): string {
  const pkg = createRequire(import.meta.url).resolve('node/package.json');
  const binary = join(dirname(pkg), 'bin', 'node');
  if (!existsSync(binary)) throw new PaddockError('agent_runtime_missing', `no Node binary at ${binary}`);
  return binary;
}

/** Builds (once per content hash) and returns the runtime; concurrent callers race safely by rename. */
export async function prepareAgentRuntime(
  cacheRoot = join(tmpdir(), 'paddock-sandbox-runtime'),
): Promise<AgentRuntime> {
  const agent = readFileSync(join(AGENT_SOURCE_DIR, 'agent.ts'));
  const launcher = readFileSync(join(AGENT_SOURCE_DIR, 'sandbox-exec.c'));
  const hash = createHash('sha256').update('agent.mjs').update(agent).update(launcher).digest('hex').slice(0, 16);
  const agentDir = join(cacheRoot, hash);
  const nodeBinary = resolveNodeBinary();
  if (existsSync(join(agentDir, 'pdk-sandbox-exec'))) return { nodeBinary, agentDir };
  const staging = `${agentDir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(staging, { recursive: true });
  try {
    writeFileSync(join(staging, 'agent.mjs'), stripAgentTypes(agent.toString('utf8')));
    writeFileSync(join(staging, 'package.json'), '{"type":"module"}\n');
    // Static: the launcher must run in any image, whatever its libc.
    await run(
      'cc',
      ['-static', '-O2', '-o', join(staging, 'pdk-sandbox-exec'), join(AGENT_SOURCE_DIR, 'sandbox-exec.c')],
      {
        timeout: 60_000,
      },
    );
    try {
      renameSync(staging, agentDir);
    } catch {
      // another process won the race: its copy is identical
    }
  } catch (err) {
    throw new PaddockError(
      'agent_runtime_failed',
      `cannot build the sandbox launcher: ${(err as Error).message}`,
      {
        status: 503,
      },
    );
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { nodeBinary, agentDir };
}

/** The agent's TypeScript as JavaScript (erasable syntax only, so line and column stay the same).
 * Node calls the API experimental and warns once: it runs once per agent version per machine. */
function stripAgentTypes(source: string): string {
  return stripTypeScriptTypes(source, { mode: 'strip' });
}
