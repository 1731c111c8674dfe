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
  // The sandbox's clock (the kernel's, which stamps its files) just before a snapshot reads the work
  // tree, in microseconds: bash's own variable (no process), else date, else "-" (unknown).
  'stamp() { at=${EPOCHREALTIME:-}; at=${at/[.,]/}; [ -n "$at" ] || at=$(date +%s%6N 2>/dev/null) || at=-; }',
  // A private index: `git add -A` here never touches what the user staged.
  'snap() { GIT_INDEX_FILE=/workspace/.git/paddock-index g add -A -- . >/dev/null 2>&1 || GIT_INDEX_FILE=/workspace/.git/paddock-index g add -A --ignore-errors -- . >/dev/null 2>&1 || true; GIT_INDEX_FILE=/workspace/.git/paddock-index g write-tree; }',
].join('\n');

/** A snapshot's tree and when it began reading the work tree, on the sandbox's clock (ms since the
 * epoch; undefined when the sandbox could not say). */
export type Stamped = { atMs: number | undefined };

/** `stamp`'s microseconds → ms, or undefined. */
function stampMs(raw: string | undefined): number | undefined {
  const v = (raw ?? '').trim();
  return /^[0-9]{13,19}$/.test(v) ? Math.floor(Number(v) / 1000) : undefined;
}

export class WorkspaceGit {
  private readonly exec: SandboxExec;
  /** Files above this many bytes are named in a diff, not dumped (git treats them as binary). */
  private readonly bigFileBytes: number;

  /** The agent's status-change check (Sandbox.workTreeChangedSince); unset: every check says changed. */
  private readonly changed: ((sinceMs: number) => Promise<boolean>) | undefined;

  constructor(exec: SandboxExec, opts: { bigFileBytes: number; changedSince?: (sinceMs: number) => Promise<boolean> }) {
    this.exec = exec;
    this.bigFileBytes = opts.bigFileBytes;
    this.changed = opts.changedSince;
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
   * The turn's start, in one exec: the base commit (the checkout's refs/paddock/base, else HEAD of
   * a repository the setup made, else a first commit of what the workspace holds now, `git init`
   * when there is no repository), then the turn's start recorded as a commit on a hidden ref (in a
   * workspace that had no repository, the base commit itself: its tree is the start).
   * Answers the base and the start tree.
   */
  async beginTurn(turnId: string, known?: string): Promise<{ base: string; startTree: string } & Stamped> {
    const out = await this.script(
      [
        'cd /workspace',
        // No repository yet (the common first turn): init without the sample hooks, one snapshot is
        // both the base and the start, and one ref transaction records base, branch and turn.
        'if [ ! -d .git ]; then',
        '  g init -q --template= . >/dev/null',
        '  stamp; t=$(snap)',
        '  c=$(g commit-tree "$t" -m "the workspace before the first turn")',
        `  printf 'update refs/paddock/base %s\\nupdate HEAD %s\\nupdate ${TURN_REF_PREFIX}%s %s\\n' "$c" "$c" "$2" "$c" | g update-ref --stdin`,
        '  echo "$c"',
        '  echo "$t"',
        '  echo "$at"',
        '  exit 0',
        'fi',
        'base() {',
        // The base the worker recorded wins over whatever the sandbox left on the ref since.
        '  if [ -n "$1" ] && g cat-file -e "$1^{commit}" 2>/dev/null; then g update-ref refs/paddock/base "$1"; echo "$1"; return; fi',
        '  if b=$(g rev-parse --verify --quiet refs/paddock/base^{commit}); then echo "$b"; return; fi',
        '  if h=$(g rev-parse --verify --quiet HEAD^{commit}); then g update-ref refs/paddock/base "$h"; echo "$h"; return; fi',
        '  local t c; t=$(snap)',
        '  c=$(g commit-tree "$t" -m "the workspace before the first turn")',
        '  g update-ref refs/paddock/base "$c"',
        // A fresh repository gets the commit on its branch, so `git log` shows where it started.
        '  g update-ref HEAD "$c" 2>/dev/null || true',
        '  echo "$c"',
        '}',
        'b=$(base "$1")',
        'stamp; t=$(snap)',
        'c=$(g commit-tree "$t" -p "$b" -m "start of turn $2")',
        `g update-ref "${TURN_REF_PREFIX}$2" "$c"`,
        'echo "$b"',
        'echo "$t"',
        'echo "$at"',
      ].join('\n'),
      [known && /^[0-9a-f]{40}$/.test(known) ? known : '', turnId],
    );
    const [base, startTree, at] = out.trim().split('\n');
    if (!base || !startTree) throw new WorkspaceGitError('the turn start was not recorded');
    return { base, startTree, atMs: stampMs(at) };
  }

  /**
   * Whether anything in the work tree (not .git) may have changed since `sinceMs` (the worker's
   * clock, the host clock the sandbox's files are stamped with). Answered by the exec agent from
   * status-change times (no process spawned); without a checker, always true.
   */
  changedSince(sinceMs: number): Promise<boolean> {
    return this.changed ? this.changed(sinceMs).catch(() => true) : Promise.resolve(true);
  }

  /** The tree of the workspace now (as `git add -A` sees it: .gitignore'd files are not tracked). */
  async snapshot(): Promise<{ tree: string } & Stamped> {
    const [at, tree] = (await this.script('cd /workspace\nstamp; t=$(snap)\necho "$at"\necho "$t"')).trim().split('\n');
    if (!tree || !/^[0-9a-f]{40,64}$/.test(tree)) throw new WorkspaceGitError('no snapshot of the workspace');
    return { tree, atMs: stampMs(at) };
  }

  /** The workspace's tree now and, in the same exec, what changed since tree-ish `since`. */
  async snapshotSince(since: string): Promise<{ tree: string; changes: FileChange[] } & Stamped> {
    const out = await this.script(
      ['cd /workspace', 'stamp; t=$(snap)', 'echo "$at $t"', 'if [ "$t" != "$1" ]; then g diff-tree -r -z --no-renames --name-status "$1" "$t"; fi'].join('\n'),
      [since],
    );
    const nl = out.indexOf('\n');
    const [at, tree = ''] = (nl < 0 ? out : out.slice(0, nl)).trim().split(' ');
    if (!/^[0-9a-f]{40,64}$/.test(tree)) throw new WorkspaceGitError('no snapshot of the workspace');
    return { tree, changes: tree === since ? [] : parseNameStatus(out.slice(nl + 1)), atMs: stampMs(at) };
  }

  /**
   * The turn's end in one exec: a snapshot of the workspace (`tree`), what changed since tree-ish
   * `last` (the last action's snapshot) and since `start` (the turn's start), and for each asked
   * diff the unified diff from its `from` to the new tree, at most `maxBytes` (cut at a line, and
   * said so; binary files and files over the big-file size are named): `same` when `from` is the
   * new tree, `kept` when the new tree is the `keptTo` a stored diff was taken at (not recomputed).
   * Each section comes back as one base64 line, so nothing a file holds reads as a boundary.
   */
  async endTurn(o: {
    last: string;
    start: string;
    diffs: { from: string; keptTo?: string }[];
    maxBytes: number;
  }): Promise<{ tree: string; sinceLast: FileChange[]; sinceStart: FileChange[]; diffs: EndDiff[] } & Stamped> {
    const out = await this.script(
      [
        'cd /workspace',
        'set +o pipefail', // head cutting a diff short is not a failure
        'stamp; t=$(snap); echo "$t $at"',
        'changes() { if [ "$1" != "$t" ]; then g diff-tree -r -z --no-renames --name-status "$1" "$t" | base64 -w0; fi; echo; }',
        'changes "$1"; changes "$2"; shift 2',
        'while [ $# -ge 2 ]; do',
        '  if [ "$1" = "$t" ]; then echo -',
        '  elif [ "$2" = "$t" ]; then echo =',
        `  else g -c core.bigFileThreshold=${this.bigFileBytes} diff --no-color --no-ext-diff --no-textconv --no-renames "$1" "$t" -- | head -c ${o.maxBytes + 1} | base64 -w0; echo; fi`,
        '  shift 2',
        'done',
      ].join('\n'),
      [o.last, o.start, ...o.diffs.flatMap((d) => [d.from, d.keptTo ?? '-'])],
      Math.ceil(((o.maxBytes + 1) * o.diffs.length * 4) / 3) + 256 * 1024,
    );
    const lines = out.split('\n');
    const [tree = '', at] = (lines[0] ?? '').trim().split(' ');
    if (!/^[0-9a-f]{40,64}$/.test(tree) || lines.length < o.diffs.length + 3)
      throw new WorkspaceGitError('the turn\'s end was not recorded whole');
    const decoded = (i: number) => Buffer.from(lines[i] ?? '', 'base64');
    const diffs = o.diffs.map((_, i): EndDiff => {
      const line = lines[i + 3] ?? '';
      if (line === '-') return { kind: 'same' };
      if (line === '=') return { kind: 'kept' };
      const bytes = decoded(i + 3);
      if (bytes.length <= o.maxBytes) return { kind: 'diff', diff: bytes.toString('utf8'), truncated: false };
      const cut = bytes.subarray(0, o.maxBytes).toString('utf8');
      return { kind: 'diff', diff: cut.slice(0, cut.lastIndexOf('\n') + 1), truncated: true };
    });
    return {
      tree,
      sinceLast: parseNameStatus(decoded(1).toString('utf8')),
      sinceStart: parseNameStatus(decoded(2).toString('utf8')),
      diffs,
      atMs: stampMs(at),
    };
  }
}

export type EndDiff = { kind: 'same' } | { kind: 'kept' } | { kind: 'diff'; diff: string; truncated: boolean };

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
