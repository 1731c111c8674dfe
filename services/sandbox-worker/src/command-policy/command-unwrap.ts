// What an exec's argv would actually run: shells' `-c` scripts split into their commands, wrappers
// (`env`, `nice`, `timeout`, `command`, `xargs`, ...) peeled off, paths reduced to the program's name.
// Guarantees: `plain` is true only when every command that runs is known exactly (see `leaves`).
import { type ShellWords, splitShellScript } from './shell-split.ts';

export type ExecAnalysis = {
  /** Every command line seen at any layer (the wrapper forms too): what forbidden/prompt rules match. */
  seen: ShellWords[];
  /** The programs that run, in order, names without their path; exact only when `plain`. */
  leaves: string[][];
  /** Nothing computed, redirected or hidden: allow rules and the trusted list may look at `leaves`. */
  plain: boolean;
};

const SHELLS = new Set(['bash', 'sh', 'dash', 'zsh', 'ksh', 'mksh', 'ash']);
/** Programs that run a script we cannot see (stdin, a file, a string built at run time). */
const SCRIPT_RUNNERS = new Set(['eval', 'source', '.']);
/** Paths whose programs are the image's own: `/usr/bin/git` is `git`, `./git` is not. */
const SYSTEM_BIN_DIRS = new Set(['/bin', '/usr/bin', '/usr/local/bin', '/sbin', '/usr/sbin', '/usr/local/sbin']);
/** Nesting deeper than this (`bash -c "bash -c ..."`) is not followed: not plain, not recognised. */
const MAX_DEPTH = 6;

type Wrapper = {
  /** Runs the inner command unchanged (no environment, input or output of its own). */
  pure: boolean;
  /** Options that take the next argument as their value (a pure wrapper's change nothing that runs). */
  valued: ReadonlySet<string>;
  /** Options known to change nothing about what runs (others make the wrapper impure). */
  harmless?: ReadonlySet<string>;
  /** Positional arguments before the command (timeout's duration). */
  positionals?: number;
  /** `NAME=value` arguments before the command (env). */
  assignments?: boolean;
};

const set = (...xs: string[]) => new Set(xs);
const WRAPPERS: Record<string, Wrapper> = {
  command: { pure: true, valued: set(), harmless: set('-p') },
  builtin: { pure: true, valued: set() },
  exec: { pure: true, valued: set('-a'), harmless: set('-c', '-l') },
  nice: { pure: true, valued: set('-n', '--adjustment') },
  timeout: {
    pure: true,
    valued: set('-s', '--signal', '-k', '--kill-after'),
    harmless: set('--preserve-status', '--foreground', '-v', '--verbose'),
    positionals: 1,
  },
  time: { pure: true, valued: set('-o', '--output', '-f', '--format'), harmless: set('-p') },
  nohup: { pure: false, valued: set() }, // may write nohup.out
  env: { pure: false, valued: set('-u', '--unset', '-C', '--chdir', '-S', '--split-string'), assignments: true },
  stdbuf: { pure: false, valued: set('-i', '-o', '-e', '--input', '--output', '--error') },
  setsid: { pure: false, valued: set() },
  ionice: { pure: false, valued: set('-c', '-n', '-p', '-P', '-u', '--class', '--classdata') },
  chrt: { pure: false, valued: set(), positionals: 1 },
  taskset: { pure: false, valued: set(), positionals: 1 },
  sudo: { pure: false, valued: set('-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-U', '--user', '--group') },
  doas: { pure: false, valued: set('-u', '-C') },
  busybox: { pure: false, valued: set() },
  xargs: {
    pure: false, // appends words read from stdin
    valued: set(
      '-a', '--arg-file', '-d', '--delimiter', '-E', '-e', '--eof', '-I', '-i', '--replace',
      '-L', '-l', '--max-lines', '-n', '--max-args', '-P', '--max-procs', '-s', '--max-chars',
      '--process-slot-var',
    ),
  },
};

/** The program's name as rules and the trusted list know it, and whether its path is the image's own. */
export function programName(word: string): { name: string; systemPath: boolean } {
  const slash = word.lastIndexOf('/');
  if (slash < 0) return { name: word, systemPath: true };
  const dir = word.slice(0, slash) || '/';
  return { name: word.slice(slash + 1), systemPath: SYSTEM_BIN_DIRS.has(dir.replace(/\/+$/, '') || '/') };
}

export function analyzeExec(argv: readonly string[]): ExecAnalysis {
  const out: ExecAnalysis = { seen: [], leaves: [], plain: true };
  analyzeWords(argv, out, 0);
  if (out.leaves.length === 0) out.plain = false;
  return out;
}

function analyzeWords(words: ShellWords, out: ExecAnalysis, depth: number): void {
  if (depth > MAX_DEPTH || words.length === 0) {
    out.plain = false;
    return;
  }
  out.seen.push([...words]);
  const [head, ...args] = words;
  if (head === null || head === undefined) {
    out.plain = false; // the program is computed at run time
    return;
  }
  const { name, systemPath } = programName(head);
  if (name !== head) out.seen.push([name, ...args]);
  if (!systemPath) out.plain = false; // `./git` is the workspace's program, whatever it is called

  if (SHELLS.has(name)) return shellCommand(args, out, depth);
  if (SCRIPT_RUNNERS.has(name)) {
    out.plain = false;
    if (name === 'eval' && args.every((a) => a !== null)) return splitInto(args.join(' '), out, depth);
    out.seen.push([null]); // runs a script nobody can read here: could be anything
    return;
  }
  const wrapper = WRAPPERS[name];
  if (wrapper) return wrapped(name, wrapper, args, out, depth);
  if (name === 'find') findExec(args, out, depth);
  if (args.some((a) => a === null)) out.plain = false;
  out.leaves.push([name, ...args.map((a) => a ?? '')]);
}

/** `bash [options] -c SCRIPT [$0 args...]`; a shell without `-c` reads a script we cannot see. */
function shellCommand(args: ShellWords, out: ExecAnalysis, depth: number): void {
  let hasC = false;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === null || a === undefined) {
      out.plain = false;
      break;
    }
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-o' || a === '+o' || a === '-O' || a === '+O' || a === '--rcfile' || a === '--init-file') {
      out.plain = false;
      i++;
      continue;
    }
    if (a === '--login' || a === '--noprofile' || a === '--norc') continue;
    if (/^[-+][a-zA-Z]+$/.test(a)) {
      if (a.includes('c')) hasC = true;
      if (!/^-[lce]+$/.test(a)) out.plain = false; // e.g. -i reads rc files, -s reads stdin
      continue;
    }
    if (a.startsWith('-')) {
      out.plain = false;
      continue;
    }
    break;
  }
  const script = args[i];
  if (!hasC || script === undefined || script === null) {
    out.plain = false;
    out.seen.push([null]); // a script from stdin or a file: could be anything
    return;
  }
  if (i + 1 < args.length) out.plain = false; // positional parameters the script may use
  splitInto(script, out, depth);
}

function splitInto(script: string, out: ExecAnalysis, depth: number): void {
  const split = splitShellScript(script);
  if (!split.plain) out.plain = false;
  for (const command of split.commands) analyzeWords(command, out, depth + 1);
}

function wrapped(name: string, w: Wrapper, args: ShellWords, out: ExecAnalysis, depth: number): void {
  if (!w.pure) out.plain = false;
  let i = 0;
  let positionals = w.positionals ?? 0;
  let splitString: string | undefined;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === null || a === undefined) {
      out.plain = false;
      break;
    }
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('-') && a.length > 1) {
      const [flag = a, attached] = a.startsWith('--') ? a.split(/=(.*)/s, 2) : [a.slice(0, 2), a.slice(2) || undefined];
      if (w.valued.has(flag)) {
        const value = attached ?? args[++i];
        if (flag === '-S' || flag === '--split-string') splitString = value ?? undefined;
      } else if (!w.harmless?.has(a) && !(name === 'nice' && /^-\d+$/.test(a))) {
        out.plain = false; // an option this table does not know
      }
      continue;
    }
    if (w.assignments && /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) {
      out.plain = false;
      continue;
    }
    if (positionals > 0) {
      positionals--;
      continue;
    }
    break;
  }
  if (name === 'time' && args.slice(0, i).some((a) => a !== '-p')) out.plain = false; // -o writes a file
  if (splitString !== undefined) {
    out.plain = false;
    splitInto(`${splitString} ${args.slice(i).map((a) => a ?? '').join(' ')}`, out, depth);
    return;
  }
  const inner = args.slice(i);
  if (inner.length === 0) {
    if (name === 'xargs') return analyzeWords(['echo'], out, depth + 1);
    out.leaves.push([name, ...args.map((a) => a ?? '')]); // `env`, `nice`: print something, run nothing
    return;
  }
  analyzeWords(inner, out, depth + 1);
}

/** `find ... -exec CMD ARGS ;` runs CMD: seen by forbidden rules (find is never plain with it). */
function findExec(args: ShellWords, out: ExecAnalysis, depth: number): void {
  for (let i = 0; i < args.length; i++) {
    if (!['-exec', '-execdir', '-ok', '-okdir'].includes(args[i] ?? '')) continue;
    const end = args.findIndex((a, j) => j > i && (a === ';' || a === '+'));
    const inner = args.slice(i + 1, end < 0 ? undefined : end);
    const before = out.leaves.length;
    analyzeWords(inner, out, depth + 1);
    out.leaves.length = before; // find runs them, not the script: find's own leaf decides
    out.plain = false;
  }
}
