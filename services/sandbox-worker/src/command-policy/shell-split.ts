// Splits a shell script into the simple commands it would run, with tree-sitter-bash (the parser Codex
// uses). Guarantees: `plain` is true only for word-only commands joined by `&&`, `||`, `;`, `|` (nothing
// the shell would expand, redirect, substitute or define); every recognisable command is listed either way.
import { createRequire } from 'node:module';
import { Language, type Node, Parser } from 'web-tree-sitter';

/** A command's words in order; `null` where the shell would compute the word (expansion, glob, ...). */
export type ShellWords = readonly (string | null)[];

export type ScriptSplit = {
  /** Every simple command found anywhere in the script (in substitutions and bodies too). */
  commands: ShellWords[];
  /** The script is nothing but plain commands: each of `commands` runs exactly as its words say. */
  plain: boolean;
};

// Loaded once, when this module is first imported (a worker loads it at start): the wasm grammar
// must load, or nothing that classifies commands starts at all (fail closed).
const require = createRequire(import.meta.url);
await Parser.init();
const bash = await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm'));
const parser = new Parser();
parser.setLanguage(bash);

/** Scripts longer than this are not parsed: nothing in them is plain, nothing is recognised. */
export const MAX_SCRIPT_CHARS = 256 * 1024;

// Codex's word-only sequence: these named nodes and these tokens, nothing else.
const PLAIN_NODES = new Set([
  'program',
  'list',
  'pipeline',
  'command',
  'command_name',
  'word',
  'string',
  'string_content',
  'raw_string',
  'number',
  'concatenation',
]);
const PLAIN_TOKENS = new Set(['&&', '||', ';', '|', '"', "'"]);
// An unquoted word with one of these is expanded by the shell (globs, braces): not a literal.
const EXPANDING_CHARS = /[*?[\]{}]/;

export function splitShellScript(script: string): ScriptSplit {
  if (script.length > MAX_SCRIPT_CHARS) return { commands: [], plain: false };
  const tree = parser.parse(script);
  if (!tree) return { commands: [], plain: false };
  try {
    const root = tree.rootNode;
    const commands: ShellWords[] = [];
    let plain = !root.hasError;
    const visit = (node: Node) => {
      if (node.isNamed ? !PLAIN_NODES.has(node.type) : !PLAIN_TOKENS.has(node.type)) plain = false;
      if (node.type === 'command') {
        const words = commandWords(node);
        if (words.some((w) => w === null)) plain = false;
        commands.push(words);
      }
      for (let i = 0; i < node.childCount; i++) {
        const child = node.child(i);
        if (child) visit(child);
      }
    };
    visit(root);
    if (commands.length === 0) plain = false;
    return { commands, plain };
  } finally {
    tree.delete();
  }
}

/** The command's name and arguments (assignments before it and redirections are not words). */
function commandWords(command: Node): ShellWords {
  const words: (string | null)[] = [];
  for (let i = 0; i < command.childCount; i++) {
    const child = command.child(i);
    if (!child || !child.isNamed) continue;
    if (child.type === 'variable_assignment' || child.type.endsWith('redirect') || child.type === 'comment') continue;
    const target = child.type === 'command_name' ? child.child(0) : child;
    words.push(target ? literal(target) : null);
  }
  return words;
}

/** The value the shell gives this word, when it computes nothing; otherwise null. */
function literal(node: Node): string | null {
  switch (node.type) {
    case 'word':
      return EXPANDING_CHARS.test(node.text) ? null : unescapeUnquoted(node.text);
    case 'number':
      return node.text;
    case 'raw_string':
      return node.text.slice(1, -1);
    case 'string': {
      let out = '';
      for (let i = 0; i < node.childCount; i++) {
        const part = node.child(i);
        if (!part) return null;
        if (!part.isNamed) continue; // the quotes
        if (part.type !== 'string_content') return null;
        out += part.text.replace(/\\\n/g, '').replace(/\\([\\"$`])/g, '$1');
      }
      return out;
    }
    case 'concatenation': {
      let out = '';
      for (let i = 0; i < node.childCount; i++) {
        const part = node.child(i);
        const value = part ? literal(part) : null;
        if (value === null) return null;
        out += value;
      }
      return out;
    }
    default:
      return null;
  }
}

const unescapeUnquoted = (text: string) => text.replace(/\\\n/g, '').replace(/\\(.)/gs, '$1');
