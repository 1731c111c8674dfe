// Changes out: the workspace is a git work tree, and what changed is read with git INSIDE the
// sandbox, as the sandbox user, with every config-named program turned off (hooks, fsmonitor,
// external diff, textconv) — .git is the sandbox's to write, so it is treated as hostile data and
// never run by the worker. Snapshots go through a private index, so the user's index is untouched.
import type { ExecRequest, ExecResult } from '@paddock/contracts';

export type FileChangeKind = 'add' | 'delete' | 'update';
export type FileChange = { path: string; kind: FileChangeKind };

/** Runs one argv in the thread's sandbox (workspace-write, no network). */
export type SandboxExec = (req: ExecRequest) => Promise<ExecResult>;

export class WorkspaceGitError extends Error {
  override name = 'WorkspaceGitError';
}

const GIT_TIMEOUT_MS = 120_000;
export const TURN_REF_PREFIX = 'refs/paddock/turns/';

// Every program a repository's config could name is switched off for each call; identity and
// signing fixed so a snapshot commit never needs the user's settings.
const GIT = [
  'git',
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'core.fsmonitor=false',
  '-c', 'core.untrackedCache=false',
  '-c', 'core.pager=cat',
  '-c', 'diff.external=',
  '-c', 'commit.gpgSign=false',
  '-c', 'safe.directory=/workspace',
  '-c', 'user.name=Paddock',
  '-c', 'user.email=paddock@localhost',
];

const SCRIPT_PRELUDE = [
  'set -euo pipefail',
  'export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0 LC_ALL=C',
  `g() { ${GIT.map((a) => `'${a}'`).join(' ')} "$@"; }`,
  // A private index: `git add -A` here never touches what the user staged.
  'snap() { GIT_INDEX_FILE=/workspace/.git/paddock-index g add -A -- . >/dev/null 2>&1 || GIT_INDEX_FILE=/workspace/.git/paddock-index g add -A --ignore-errors -- . >/dev/null 2>&1 || true; GIT_INDEX_FILE=/workspace/.git/paddock-index g write-tree; }',
].join('\n');

export class WorkspaceGit {
  private readonly exec: SandboxExec;
  /** Files above this many bytes are named in a diff, not dumped (git treats them as binary). */
  private readonly bigFileBytes: number;

  constructor(exec: SandboxExec, opts: { bigFileBytes: number }) {
    this.exec = exec;
    this.bigFileBytes = opts.bigFileBytes;
  }

  private async script(body: string, args: string[] = [], maxOutputBytes = 4 * 1024 * 1024): Promise<string> {
    const r = await this.exec({
      argv: ['bash', '-c', `${SCRIPT_PRELUDE}\n${body}`, 'paddock-git', ...args],
      cwd: '/workspace',
      mode: 'workspace-write',
      network: false,
      timeoutMs: GIT_TIMEOUT_MS,
      maxOutputBytes,
    });
    if (r.exitCode !== 0 || r.timedOut) {
      const why = r.timedOut ? 'timed out' : (r.stderr.text.trim().split('\n').pop() ?? `exit ${r.exitCode}`);
      throw new WorkspaceGitError(why.slice(0, 500));
    }
    return r.stdout.text;
  }

  /**
   * The base commit: the checkout's (refs/paddock/base), else HEAD of a repository the setup made,
   * else a first commit of what the workspace holds now (`git init` when there is no repository).
   */
  async ensureBase(known?: string): Promise<string> {
    const out = await this.script(
      [
        'cd /workspace',
        'if [ ! -d .git ]; then g init -q . >/dev/null; fi',
        // The base the worker recorded wins over whatever the sandbox left on the ref since.
        'if [ -n "$1" ] && g cat-file -e "$1^{commit}" 2>/dev/null; then g update-ref refs/paddock/base "$1"; echo "$1"; exit 0; fi',
        'if b=$(g rev-parse --verify --quiet refs/paddock/base^{commit}); then echo "$b"; exit 0; fi',
        'if h=$(g rev-parse --verify --quiet HEAD^{commit}); then g update-ref refs/paddock/base "$h"; echo "$h"; exit 0; fi',
        't=$(snap)',
        'c=$(g commit-tree "$t" -m "the workspace before the first turn")',
        'g update-ref refs/paddock/base "$c"',
        // A fresh repository gets the commit on its branch, so `git log` shows where it started.
        'g update-ref HEAD "$c" 2>/dev/null || true',
        'echo "$c"',
      ].join('\n'),
      [known && /^[0-9a-f]{40}$/.test(known) ? known : ''],
    );
    return out.trim();
  }

  /** The tree of the workspace now (as `git add -A` sees it: .gitignore'd files are not tracked). */
  async snapshot(): Promise<string> {
    return (await this.script('cd /workspace\nsnap')).trim();
  }

  /** Records the turn's start as a commit on a hidden ref; answers its tree. */
  async markTurnStart(turnId: string, base: string): Promise<string> {
    const out = await this.script(
      ['cd /workspace', 't=$(snap)', 'c=$(g commit-tree "$t" -p "$2" -m "start of turn $1")', 'g update-ref "refs/paddock/turns/$1" "$c"', 'echo "$t"'].join('\n'),
      [turnId, base],
    );
    return out.trim();
  }

  /** What changed from tree-ish `from` to tree-ish `to`. */
  async changesBetween(from: string, to: string): Promise<FileChange[]> {
    if (from === to) return [];
    const out = await this.script('cd /workspace\ng diff-tree -r -z --no-renames --name-status "$1" "$2"', [from, to]);
    return parseNameStatus(out);
  }

  /**
   * The unified diff from tree-ish `from` to tree-ish `to`, at most `maxBytes` (cut at a line, and
   * said so). Binary files and files over the big-file size are named (`Binary files … differ`).
   */
  async diff(from: string, to: string, maxBytes: number): Promise<{ diff: string; truncated: boolean }> {
    const out = await this.script(
      [
        'cd /workspace',
        'set +o pipefail', // head cutting the diff short is not a failure
        `g -c core.bigFileThreshold=${this.bigFileBytes} diff --no-color --no-ext-diff --no-textconv --no-renames "$1" "$2" -- | head -c ${maxBytes + 1}`,
      ].join('\n'),
      [from, to],
      maxBytes + 1024,
    );
    if (Buffer.byteLength(out) <= maxBytes) return { diff: out, truncated: false };
    const cut = Buffer.from(out).subarray(0, maxBytes).toString('utf8');
    return { diff: cut.slice(0, cut.lastIndexOf('\n') + 1), truncated: true };
  }

  /** The turn start trees recorded on hidden refs, by turn id. */
  async turnStart(turnId: string): Promise<string | undefined> {
    const out = await this.script(`cd /workspace\ng rev-parse --verify --quiet "${TURN_REF_PREFIX}$1^{tree}" || true`, [turnId]);
    return out.trim() || undefined;
  }
}

/** `git diff-tree -z --name-status` → changes (A add, D delete, anything else update). */
export function parseNameStatus(out: string): FileChange[] {
  const parts = out.split('\0').filter((p) => p !== '');
  const changes: FileChange[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const status = parts[i]!;
    const path = parts[i + 1]!;
    const kind: FileChangeKind = status.startsWith('A') ? 'add' : status.startsWith('D') ? 'delete' : 'update';
    changes.push({ path, kind });
  }
  return changes;
}
