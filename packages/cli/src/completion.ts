// `paddock completion bash|zsh`: a completion script generated from the commander tree itself, so it
// never lists a command or option the CLI lacks. zsh loads the bash function through bashcompinit.
import type { Command } from 'commander';

const words = (c: Command) => [
  ...c.commands.map((s) => s.name()),
  ...c.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x)),
  '--help',
];

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const cases: string[] = [];
  for (const c of program.commands) {
    const subs = c.commands.map((s) => `      ${c.name()}:${s.name()}) words="${words(s).join(' ')}" ;;`);
    cases.push(...subs, `      ${c.name()}:*|${c.name()}:) words="${words(c).join(' ')}" ;;`);
  }
  const bash = `_paddock() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="${words(program).join(' ')}"
  else
    case "\${COMP_WORDS[1]}:\${COMP_WORDS[2]}" in
${cases.join('\n')}
      *) words="--help" ;;
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _paddock paddock
`;
  return shell === 'bash' ? bash : `#compdef paddock\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
}
