// The in-sandbox exec agent: runs inside the container (Node's binary and this file are mounted
// read-only), reads JSON lines on stdin and answers JSON lines on stdout over ONE attached
// `docker exec` stream. It spawns commands itself, so an exec costs a fork, not a Docker round trip,
// and it can kill a command's whole process tree, which Docker cannot. Only node: built-ins here.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const WORKSPACE = '/workspace';
const HELPER = process.env['PDK_HELPER'] ?? '/opt/paddock/agent/pdk-sandbox-exec';

type Request = {
  id: number;
  op: 'exec' | 'cancel' | 'read' | 'write' | 'list' | 'delete' | 'ping' | 'changed';
  argv?: string[];
  helperArgs?: string[];
  cwd?: string;
  env?: Record<string, string>;
  stdinB64?: string;
  timeoutMs?: number;
  maxOutputBytes?: number;
  /** exec: over this many bytes the command is killed and the exec fails (raw transfers: tar). */
  failOverBytes?: number;
  execId?: string;
  path?: string;
  dataB64?: string;
  recursive?: boolean;
  maxBytes?: number;
  /** changed: the instant (ms since the epoch) after which a status change counts. */
  sinceMs?: number;
  /** changed: entries looked at before answering "changed" without looking further. */
  maxEntries?: number;
};

type Running = { id: number; execId: string; child: ChildProcess; pgid: number; sinceTicks: number };

const active = new Map<number, Running>();
const send = (msg: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
};
const fail = (id: number, code: string, message: string): void => send({ id, ev: 'error', code, message });

// --- the process table, for killing what a command left behind ------------------------------

type Proc = { pid: number; ppid: number; pgrp: number; session: number; startTicks: number; zombie: boolean };

function procTable(): Map<number, Proc> {
  const table = new Map<number, Proc>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(pid, {
        pid,
        ppid: Number(f[1]),
        pgrp: Number(f[2]),
        session: Number(f[3]),
        startTicks: Number(f[19]),
        zombie: f[0] === 'Z' || f[0] === 'X',
      });
    } catch {
      // exited while we looked
    }
  }
  return table;
}

/** Kernel clock ticks since boot (USER_HZ is 100 on Linux): the unit of /proc/<pid>/stat starttime. */
const nowTicks = () => Math.floor(Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 100) - 1;

function execMarker(pid: number): string | undefined {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    return /(?:^|\0)PADDOCK_EXEC_ID=([^\0]*)/.exec(env)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Which exec a process belongs to: by its process group or session (setsid'd root), by ancestry, or,
 * for an orphan that daemonised itself (ppid 1, new session), by the marker in its environment and
 * otherwise by having started while the exec ran. Processes entered by `docker exec` (ppid 0, like
 * this agent) and their trees belong to no exec and are never touched.
 */
function owner(p: Proc, table: Map<number, Proc>, target: Running): 'target' | 'other' | 'none' {
  const others = [...active.values()].filter((r) => r !== target);
  const inRun = (q: Proc, r: Running) => q.pgrp === r.pgid || q.session === r.pgid || q.pid === r.pgid;
  let q: Proc | undefined = p;
  for (let depth = 0; q && depth < 4096; depth++) {
    if (inRun(q, target)) return 'target';
    if (others.some((r) => inRun(q as Proc, r))) return 'other';
    if (q.ppid === 0) return 'none'; // a docker-exec'd process: this agent, or another session
    if (q.ppid === 1) break; // an orphan: decide below
    q = table.get(q.ppid);
  }
  const marker = execMarker(p.pid);
  if (marker === target.execId) return 'target';
  if (marker !== undefined && others.some((r) => r.execId === marker)) return 'other';
  return p.startTicks >= target.sinceTicks ? 'target' : 'none';
}

/** The last PID the kernel handed out in this sandbox's PID namespace (the last field of /proc/loadavg). */
function lastPid(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'latin1').trim().split(' ').pop());
  } catch {
    return Number.NaN;
  }
}

/**
 * True when the command's own process was the last one created in this PID namespace and it has
 * exited: nothing it could have started is alive, so the /proc sweep has nothing to find. Only for
 * short execs: a PID counter that wrapped all the way round (millions of forks) takes far longer.
 */
function leftNothing(run: Running, durationMs: number): boolean {
  return durationMs < 1000 && lastPid() === run.pgid;
}

/** SIGKILLs every process of the exec until none is left (a fork bomb keeps forking): bounded passes. */
async function killTree(run: Running): Promise<number> {
  let killed = 0;
  for (let pass = 0; pass < 200; pass++) {
    try {
      process.kill(-run.pgid, 'SIGKILL');
    } catch {
      // the group is gone
    }
    const table = procTable();
    const targets = [...table.values()].filter(
      (p) => p.pid !== 1 && p.pid !== process.pid && !p.zombie && owner(p, table, run) === 'target',
    );
    if (targets.length === 0) return killed;
    for (const p of targets) {
      try {
        process.kill(p.pid, 'SIGKILL');
        killed++;
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, pass < 10 ? 1 : 20));
  }
  return killed;
}

// --- cgroup counters: OOM kills and refused forks, read before and after an exec -------------

/** A cgroup counter reader: the first of `paths` (one per cgroup version) that holds `key` is found
 * once, with its pattern compiled once; an exec reads it twice, so no failing open per read. */
function counter(paths: string[], key: string): () => number {
  const pattern = new RegExp(`(?:^|\\n)${key} (\\d+)`);
  let found: string | undefined;
  const read = (path: string): number | undefined => {
    try {
      const m = pattern.exec(readFileSync(path, 'latin1'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined; // not this cgroup version
    }
  };
  return () => {
    if (found !== undefined) return read(found) ?? 0;
    for (const path of paths) {
      const value = read(path);
      if (value === undefined) continue;
      found = path;
      return value;
    }
    return 0;
  };
}
const oomKills = counter(['/sys/fs/cgroup/memory/memory.oom_control', '/sys/fs/cgroup/memory.events'], 'oom_kill');
const pidsMaxHits = counter(['/sys/fs/cgroup/pids/pids.events', '/sys/fs/cgroup/pids.events'], 'max');

// --- output capture: stream up to the cap, then keep only a tail ------------------------------

class Capture {
  total = 0;
  streamed = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private readonly id: number;
  private readonly stream: 'o' | 'e';
  private readonly maxBytes: number;
  private readonly tailLimit: number;

  constructor(id: number, stream: 'o' | 'e', maxBytes: number) {
    this.id = id;
    this.stream = stream;
    this.maxBytes = maxBytes;
    this.tailLimit = maxBytes - Math.floor(maxBytes / 2);
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.streamed < this.maxBytes) {
      const live = chunk.subarray(0, this.maxBytes - this.streamed);
      this.streamed += live.length;
      send({ id: this.id, ev: 'out', s: this.stream, d: live.toString('base64') });
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= this.tailLimit) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  /** The last bytes, sent only when the output went over the cap (else all was streamed). */
  finalTail(): string | undefined {
    if (this.total <= this.maxBytes) return undefined;
    const all = Buffer.concat(this.tail);
    return all.subarray(Math.max(0, all.length - this.tailLimit)).toString('base64');
  }
}

function exec(req: Request) {
  const argv = req.argv ?? [];
  if (argv.length === 0) return fail(req.id, 'bad_request', 'argv must not be empty');
  const maxOutputBytes = req.maxOutputBytes ?? 1024 * 1024;
  const execId = req.execId ?? String(req.id);
  const startedAt = performance.now();
  const oomBefore = oomKills();
  const pidsBefore = pidsMaxHits();
  const sinceTicks = nowTicks();
  let child: ChildProcess;
  try {
    child = spawn(HELPER, [...(req.helperArgs ?? []), '--', ...argv], {
      cwd: req.cwd ?? WORKSPACE,
      env: { ...req.env, PADDOCK_EXEC_ID: execId },
      detached: true, // setsid: the command and its children form one process group
      // No stdin: /dev/null (the same end-of-file at once, one pipe and stream fewer).
      stdio: [req.stdinB64 ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    return fail(req.id, 'spawn_failed', (err as Error).message);
  }
  const run: Running = { id: req.id, execId, child, pgid: child.pid ?? -1, sinceTicks };
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });
  if (child.pid === undefined) {
    child.once('error', (err) => fail(req.id, 'spawn_failed', err.message));
    return;
  }
  active.set(req.id, run);
  // No 'started' line: the worker learns nothing from it, and each line is a write and a stream frame.

  const out = new Capture(req.id, 'o', maxOutputBytes);
  const err = new Capture(req.id, 'e', maxOutputBytes);
  let tooLarge = false;
  const onData = (cap: Capture) => (chunk: Buffer) => {
    cap.push(chunk);
    if (req.failOverBytes !== undefined && out.total + err.total > req.failOverBytes && !tooLarge) {
      tooLarge = true;
      void killTree(run);
    }
  };
  child.stdout!.on('data', onData(out));
  child.stderr!.on('data', onData(err));
  if (req.stdinB64) {
    child.stdin!.on('error', () => {}); // the command may exit without reading its stdin
    child.stdin!.end(Buffer.from(req.stdinB64, 'base64'));
  }

  let timedOut = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      void killTree(run);
    },
    Math.max(1, req.timeoutMs ?? 60_000),
  );

  const streamsClosed = Promise.all(
    [child.stdout!, child.stderr!].map((s) => new Promise<void>((r) => s.once('close', () => r()))),
  );
  child.once('exit', async (code, signal) => {
    clearTimeout(timer);
    // What the command left running (a daemonised child) dies with it; an exec owns its tree.
    if (!leftNothing(run, performance.now() - startedAt)) await killTree(run);
    // A survivor we could not see may hold the pipes: do not wait on it forever.
    const grace = setTimeout(() => {
      child.stdout!.destroy();
      child.stderr!.destroy();
    }, 500);
    await streamsClosed;
    clearTimeout(grace);
    active.delete(req.id);
    if (spawnError) return fail(req.id, 'spawn_failed', spawnError.message);
    if (tooLarge) return fail(req.id, 'too_large', `output over ${req.failOverBytes} bytes`);
    send({
      id: req.id,
      ev: 'exit',
      code,
      signal,
      timedOut,
      oomKilled: oomKills() > oomBefore,
      pidsLimitHit: pidsMaxHits() > pidsBefore,
      stdout: { total: out.total, tail: out.finalTail() },
      stderr: { total: err.total, tail: err.finalTail() },
      durationMs: performance.now() - startedAt,
    });
  });
}

// --- has the work tree changed? ----------------------------------------------------------------

/**
 * Whether any entry of the work tree (not .git) had its status changed after `sinceMs`: every write,
 * create, delete, rename, chmod or `touch -d` sets the ctime of the entry or of its directory to now,
 * and nothing in the sandbox can set a ctime back. Symlinks are not followed. Saying "changed" is
 * always safe (the worker then takes a snapshot): over `maxEntries`, or on any error, it says so.
 */
function changedSince(sinceMs: number, maxEntries: number): boolean {
  if (!Number.isFinite(sinceMs)) return true;
  try {
    if (lstatSync(WORKSPACE).ctimeMs > sinceMs) return true;
    const dirs = [WORKSPACE];
    let seen = 0;
    while (dirs.length > 0) {
      const dir = dirs.pop()!;
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (dir === WORKSPACE && entry.name === '.git') continue;
        const path = `${dir}/${entry.name}`;
        if (lstatSync(path).ctimeMs > sinceMs || ++seen > maxEntries) return true;
        if (entry.isDirectory()) dirs.push(path);
      }
    }
    return false;
  } catch {
    return true;
  }
}

// --- files: confined to the workspace, symlinks included ---------------------------------------

function workspacePath(path: string | undefined): string {
  const full = resolve(WORKSPACE, path ?? '.');
  if (full !== WORKSPACE && !full.startsWith(`${WORKSPACE}/`))
    throw codeError('bad_path', 'outside /workspace');
  // The deepest existing ancestor, symlinks resolved, must still be inside the workspace.
  let probe = full;
  for (;;) {
    try {
      const real = realpathSync(probe);
      if (real !== WORKSPACE && !real.startsWith(`${WORKSPACE}/`))
        throw codeError('bad_path', 'resolves outside /workspace');
      return full;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
      probe = dirname(probe);
    }
  }
}

const codeError = (code: string, message: string) => Object.assign(new Error(message), { code });

function files(req: Request) {
  try {
    const path = workspacePath(req.path);
    switch (req.op) {
      case 'read': {
        const size = statSync(path).size;
        if (size > (req.maxBytes ?? 16 * 1024 * 1024))
          return fail(req.id, 'too_large', `${size} bytes, over ${req.maxBytes}`);
        return send({ id: req.id, ev: 'file', size, d: readFileSync(path).toString('base64') });
      }
      case 'write':
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, Buffer.from(req.dataB64 ?? '', 'base64'));
        return send({ id: req.id, ev: 'done' });
      case 'list':
        return send({
          id: req.id,
          ev: 'entries',
          entries: readdirSync(path, { withFileTypes: true }).map((e) => {
            const st = lstatSync(resolve(path, e.name), { throwIfNoEntry: false });
            const type = e.isDirectory()
              ? 'dir'
              : e.isSymbolicLink()
                ? 'symlink'
                : e.isFile()
                  ? 'file'
                  : 'other';
            return { name: e.name, type, size: st?.size ?? 0, mtimeMs: st?.mtimeMs ?? 0 };
          }),
        });
      case 'delete':
        if (path === WORKSPACE) return fail(req.id, 'bad_path', 'cannot delete the workspace itself');
        rmSync(path, { recursive: req.recursive ?? false, force: false });
        return send({ id: req.id, ev: 'done' });
      default:
        return fail(req.id, 'bad_request', `unknown op ${req.op}`);
    }
  } catch (err) {
    const e = err as { code?: string; message: string };
    fail(req.id, e.code ?? 'io_error', e.message);
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
lines.on('line', (line) => {
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
  } catch {
    return send({ ev: 'protocol_error', message: 'not JSON' });
  }
  switch (req.op) {
    case 'exec':
      return exec(req);
    case 'cancel': {
      const run = active.get(req.id);
      if (run) void killTree(run);
      return;
    }
    case 'ping':
      return send({ id: req.id, ev: 'pong' });
    case 'changed':
      return send({ id: req.id, ev: 'changed', changed: changedSince(Number(req.sinceMs), req.maxEntries ?? 100_000) });
    default:
      return files(req);
  }
});
// The worker went away: nothing of ours may outlive the session.
lines.on('close', async () => {
  await Promise.all([...active.values()].map((r) => killTree(r)));
  process.exit(0);
});
send({ ev: 'ready', pid: process.pid });
