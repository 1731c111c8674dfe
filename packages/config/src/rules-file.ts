// Codex's rules files (`*.rules`, a Starlark subset): `prefix_rule(...)` calls become Paddock prefix rules,
// their `match` / `not_match` examples are checked when the file is read (as Codex's PolicyParser does),
// and `host_executable` / `network_rule` are accepted and reported as not applicable. Nothing is executed.
import { ConfigError } from './resolve.ts';
import type { RuleDecision } from './schema.ts';

export type FileRule = { pattern: string[]; decision: RuleDecision; justification?: string };
export type RulesFile = { rules: FileRule[]; ignored: { call: string; line: number }[] };

type Value = string | Value[];
type Call = { name: string; line: number; args: Map<string, { value: Value; line: number }> };

/** Most prefixes one rule may expand to (each list of alternatives multiplies them). */
const MAX_EXPANSION = 256;
const DECISIONS: readonly string[] = ['allow', 'prompt', 'forbidden'];
/** The builtins of Codex's rules language; nothing else is callable. */
const FUNCTIONS: readonly string[] = ['prefix_rule', 'host_executable', 'network_rule'];

class Reader {
  pos = 0;
  readonly text: string;
  readonly source: string;
  constructor(text: string, source: string) {
    this.text = text;
    this.source = source;
  }
  line(at = this.pos): number {
    return this.text.slice(0, at).split('\n').length;
  }
  fail(message: string, at = this.pos): never {
    throw new ConfigError([{ source: this.source, path: '', message, line: this.line(at) }]);
  }
  /** Skips blanks and `#` comments. */
  skip(): void {
    for (;;) {
      const m = /^(?:\s+|#[^\n]*)/.exec(this.text.slice(this.pos));
      if (!m || m[0] === '') return;
      this.pos += m[0].length;
    }
  }
  peek(): string {
    this.skip();
    return this.text[this.pos] ?? '';
  }
  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected "${ch}"`);
    this.pos++;
  }
  ident(): string {
    this.skip();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos));
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }
  string(): string {
    const quote = this.peek();
    if (quote !== '"' && quote !== "'") this.fail('expected a string');
    let out = '';
    this.pos++;
    for (;;) {
      const ch = this.text[this.pos++];
      if (ch === undefined || ch === '\n') this.fail('unterminated string');
      if (ch === quote) return out;
      if (ch === '\\') {
        const esc = this.text[this.pos++];
        const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
        if (esc === undefined || !(esc in map)) this.fail(`unsupported escape \\${esc ?? ''}`);
        out += map[esc]!;
      } else out += ch;
    }
  }
  value(): Value {
    if (this.peek() === '[') {
      this.pos++;
      const items: Value[] = [];
      while (this.peek() !== ']') {
        items.push(this.value());
        if (this.peek() === ',') this.pos++;
        else if (this.peek() !== ']') this.fail('expected "," or "]"');
      }
      this.pos++;
      return items;
    }
    return this.string();
  }
  call(): Call {
    const at = (this.skip(), this.pos);
    const name = this.ident();
    if (!FUNCTIONS.includes(name)) this.fail(`unknown function ${name} (known: ${FUNCTIONS.join(', ')})`, at);
    this.expect('(');
    const args = new Map<string, { value: Value; line: number }>();
    while (this.peek() !== ')') {
      const argAt = this.pos;
      const key = this.ident();
      this.expect('=');
      if (args.has(key)) this.fail(`${name}: argument ${key} given twice`, argAt);
      args.set(key, { value: this.value(), line: this.line(argAt) });
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== ')') this.fail('expected "," or ")"');
    }
    this.pos++;
    return { name, line: this.line(at), args };
  }
}

/** A command example: a list of words, or one string split as a shell would (quotes kept together). */
function exampleWords(v: Value, fail: (m: string) => never): string[] {
  if (Array.isArray(v)) return v.map((w) => (typeof w === 'string' ? w : fail('an example list holds strings only')));
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of v.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

function expand(pattern: Value, fail: (m: string) => never): string[][] {
  if (!Array.isArray(pattern) || pattern.length === 0) fail('pattern must be a non-empty list');
  let out: string[][] = [[]];
  for (const token of pattern as Value[]) {
    const words = typeof token === 'string' ? [token] : token.map((w) => (typeof w === 'string' && w !== '' ? w : fail('alternatives are non-empty strings')));
    if (words.length === 0 || words.some((w) => w === '')) fail('pattern tokens are non-empty');
    out = out.flatMap((p) => words.map((w) => [...p, w]));
    if (out.length > MAX_EXPANSION) fail(`pattern expands to more than ${MAX_EXPANSION} prefixes`);
  }
  return out;
}

const matches = (words: string[], prefix: string[]) => prefix.length <= words.length && prefix.every((p, i) => words[i] === p);

/** Parses a Codex rules file; a syntax error, a bad argument or a failed example is a ConfigError with its line. */
export function parseRulesFile(text: string, source: string): RulesFile {
  const r = new Reader(text, source);
  const rules: FileRule[] = [];
  const ignored: RulesFile['ignored'] = [];
  while (r.peek() !== '') {
    const call = r.call();
    const fail = (message: string, line = call.line): never => {
      throw new ConfigError([{ source, path: `${call.name}`, message, line }]);
    };
    if (call.name === 'host_executable' || call.name === 'network_rule') {
      ignored.push({ call: call.name, line: call.line });
      continue;
    }
    const known = new Set(['pattern', 'decision', 'justification', 'match', 'not_match']);
    for (const [k, a] of call.args) if (!known.has(k)) fail(`unknown argument ${k}`, a.line);
    const patternArg = call.args.get('pattern');
    const pattern = patternArg ?? fail('pattern is required');
    const prefixes = expand(pattern.value, (m) => fail(m, pattern.line));
    const decisionArg = call.args.get('decision');
    const decision = decisionArg?.value ?? 'allow'; // Codex's default
    if (typeof decision !== 'string' || !DECISIONS.includes(decision)) fail('decision must be "allow", "prompt" or "forbidden"', decisionArg?.line);
    const justification = call.args.get('justification');
    if (justification && (typeof justification.value !== 'string' || justification.value.trim() === '')) {
      fail('justification must be a non-blank string', justification.line);
    }
    // Examples are checked now, as Codex checks them when it loads the file.
    for (const [kind, want] of [['match', true], ['not_match', false]] as const) {
      const arg = call.args.get(kind);
      if (!arg) continue;
      if (!Array.isArray(arg.value)) fail(`${kind} must be a list of examples`, arg.line);
      for (const example of arg.value as Value[]) {
        const words = exampleWords(example, (m) => fail(m, arg.line));
        if (prefixes.some((p) => matches(words, p)) !== want) {
          fail(`expected example ${JSON.stringify(words.join(' '))} to ${want ? '' : 'not '}match rule ${JSON.stringify(pattern.value)}`, arg.line);
        }
      }
    }
    for (const p of prefixes) {
      rules.push({
        pattern: p,
        decision: decision as RuleDecision,
        ...(justification ? { justification: justification.value as string } : {}),
      });
    }
  }
  return { rules, ignored };
}
