// The commands `approval_policy = "untrusted"` runs without review: they only read. Deliberately
// short and strict (any flag that can write, execute or reach out makes the command untrusted);
// follows Codex's safe-command list. git is not on it: even `git status` runs repository-configured
// programs (core.fsmonitor, filter drivers, textconv, pagers) that no argv check can rule out.

const ALWAYS = new Set([
  'cat',
  'cd',
  'echo',
  'false',
  'grep',
  'head',
  'ls',
  'nl',
  'pwd',
  'tail',
  'true',
  'wc',
  'which',
  'whoami',
  'id',
  'stat',
  'diff',
  'cut',
]);

// find: these options execute, delete or write files.
const FIND_UNSAFE = new Set([
  '-exec',
  '-execdir',
  '-ok',
  '-okdir',
  '-delete',
  '-fls',
  '-fprint',
  '-fprint0',
  '-fprintf',
]);
// rg: these run other programs.
const RG_UNSAFE = new Set(['--pre', '--hostname-bin', '--search-zip']);

/** A short-option word (`-uo`, `-ofile`) that contains one of these letters. */
const hasShortFlag = (args: readonly string[], letters: string) =>
  args.some((a) => /^-[^-]/.test(a) && [...a.slice(1)].some((ch) => letters.includes(ch)));

/** A long option naming one of these, abbreviated or not (GNU getopt accepts `--out` for `--output`). */
const hasLongOption = (args: readonly string[], names: readonly string[]) =>
  args.some((a) => {
    if (!a.startsWith('--') || a.length < 3) return false;
    const name = a.split('=', 1)[0]!;
    return names.some((n) => n.startsWith(name));
  });

/** The operands of a command whose options in `valued` take the next word as their value. */
function operands(args: readonly string[], valued: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return [...found, ...args.slice(i + 1)];
    if (a.startsWith('-') && a !== '-') {
      if (valued.has(a)) i++;
      continue;
    }
    found.push(a);
  }
  return found;
}

export function isTrustedCommand(argv: readonly string[]): boolean {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return false;
  if (ALWAYS.has(cmd)) return true;
  switch (cmd) {
    case 'date': // -s sets the clock
      return !hasShortFlag(args, 's') && !hasLongOption(args, ['--set']);
    case 'file': // -C compiles a magic file (writes it)
      return !hasShortFlag(args, 'C') && !hasLongOption(args, ['--compile']);
    case 'tree': // -o writes the listing to a file; -R writes 00Tree.html into every directory
      return !hasShortFlag(args, 'oR');
    case 'sort': // -o writes, --compress-program runs a program, -T writes temporary files there
      return (
        !hasShortFlag(args, 'oT') &&
        !hasLongOption(args, ['--output', '--compress-program', '--temporary-directory'])
      );
    case 'uniq': // `uniq IN OUT` writes OUT
      return operands(args, new Set(['-f', '-s', '-w'])).length <= 1;
    case 'find':
      return !args.some((a) => FIND_UNSAFE.has(a));
    case 'rg':
      return !args.some((a) => RG_UNSAFE.has(a) || a.startsWith('--pre=')) && !hasShortFlag(args, 'z');
    case 'sed':
      // `sed -n 1,20p FILE` only: printing, no in-place editing, no script files.
      return args[0] === '-n' && /^\d+(,\d+)?p$/.test(args[1] ?? '') && args.length <= 3;
    default:
      return false;
  }
}
