// Runs git on the worker with a fixed, closed environment: no system or global config, no prompts,
// no hooks, only http(s) (or file, for the worker's own mirror) transports. A secret, when given,
// travels only as an `http.extraHeader` in this child's environment: never in argv, a file or a log.
import { spawn } from 'node:child_process';

export type GitRunOptions = {
  cwd?: string;
  /** `Authorization` header value for the remote (GIT_CONFIG_* env of this one process). */
  authorization?: string;
  /** Transports git may use: http(s) for a remote, file for the worker's mirror cache. */
  protocols: 'remote' | 'local';
  signal: AbortSignal;
  /** Known strings to blank out of any error message (defence in depth: git never prints the header). */
  secrets?: string[];
};

export class GitFailed extends Error {
  override name = 'GitFailed';
}

const SAFE_CONFIG: [string, string][] = [
  ['core.hooksPath', '/dev/null'],
  ['core.fsmonitor', 'false'],
  ['protocol.allow', 'never'],
  ['http.followRedirects', 'false'],
  ['credential.helper', ''],
];

/** `git args…`, answering stdout; a non-zero exit is a GitFailed with git's last stderr line. */
export function runGit(args: string[], o: GitRunOptions): Promise<string> {
  const config: [string, string][] = [
    ...SAFE_CONFIG,
    ...(o.protocols === 'remote'
      ? ([['protocol.https.allow', 'always'], ['protocol.http.allow', 'always']] as [string, string][])
      : ([['protocol.file.allow', 'always']] as [string, string][])),
    ...(o.authorization ? ([['http.extraHeader', `Authorization: ${o.authorization}`]] as [string, string][]) : []),
  ];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_ALLOW_PROTOCOL: o.protocols === 'remote' ? 'https:http' : 'file',
    GIT_CONFIG_COUNT: String(config.length),
    LC_ALL: 'C',
  };
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: o.cwd, env, signal: o.signal, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err = (err + c.toString('utf8')).slice(-8192);
    });
    child.on('error', (e) => reject(new GitFailed(o.signal.aborted ? 'timed out' : e.message)));
    child.on('close', (code) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      let line = err.trim().split('\n').filter(Boolean).pop() ?? `git exited ${code}`;
      for (const s of o.secrets ?? []) if (s) line = line.split(s).join('***');
      reject(new GitFailed(o.signal.aborted ? 'timed out' : line.replace(/^(fatal|error): /, '')));
    });
  });
}
