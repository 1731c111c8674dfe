// The commands `approval_policy = "untrusted"` runs without review: they only read. Deliberately
// short and strict (any flag that can write, execute or reach out makes the command untrusted).

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
  'date',
  'stat',
  'file',
  'tree',
  'diff',
  'cut',
  'sort',
  'uniq',
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
const RG_UNSAFE = new Set(['--pre', '--hostname-bin', '--search-zip', '-z']);
const GIT_READ_ONLY = new Set(['status', 'log', 'diff', 'show', 'branch', 'rev-parse', 'ls-files', 'blame']);
// git options that run programs or redirect output even on read-only subcommands.
const GIT_UNSAFE_OPTION = /^(--output|--ext-diff|-c|--exec-path|--upload-pack|--config-env)/;

export function isTrustedCommand(argv: readonly string[]): boolean {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return false;
  if (ALWAYS.has(cmd)) return !(cmd === 'sort' && args.some((a) => a === '-o' || a.startsWith('--output')));
  switch (cmd) {
    case 'find':
      return !args.some((a) => FIND_UNSAFE.has(a));
    case 'rg':
      return !args.some((a) => RG_UNSAFE.has(a) || a.startsWith('--pre='));
    case 'git': {
      const sub = args.find((a) => !a.startsWith('-'));
      if (!sub || !GIT_READ_ONLY.has(sub)) return false;
      if (
        sub === 'branch' &&
        args.some((a) => /^(-d|-D|-m|-M|-c|-C|--delete|--move|--copy|--set-upstream)/.test(a))
      )
        return false;
      return !args.some((a) => GIT_UNSAFE_OPTION.test(a));
    }
    case 'sed':
      // `sed -n 1,20p FILE` only: printing, no in-place editing, no script files.
      return args[0] === '-n' && /^\d+(,\d+)?p$/.test(args[1] ?? '') && args.length <= 3;
    default:
      return false;
  }
}
