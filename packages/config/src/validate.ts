// Schema validation that speaks config: every problem as `path: message`, unknown keys with
// the closest known key suggested, and the TOML line where one can be found.
import type { TSchema } from 'typebox';
import Value from 'typebox/value';

export type ConfigIssue = { source: string; path: string; message: string; line?: number; column?: number };

type SchemaNode = {
  type?: string;
  properties?: Record<string, SchemaNode>;
  patternProperties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  enum?: unknown[];
  anyOf?: SchemaNode[];
  pattern?: string;
  description?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  minLength?: number;
};

/** `/a/b/2` -> `a.b[2]` */
export function toKeyPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number' || /^\d+$/.test(s)) out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}

const pointerSegments = (pointer: string): string[] =>
  pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

function schemaAt(root: SchemaNode, segments: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const s of segments) {
    if (!node) return undefined;
    if (node.properties?.[s]) node = node.properties[s];
    else if (node.patternProperties) node = Object.values(node.patternProperties)[0];
    else if (node.items && /^\d+$/.test(s)) node = node.items;
    else return undefined;
  }
  return node;
}

export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // Only suggest when the typo is plausibly one: at most a third of the word differs.
  return best !== undefined && bestDistance <= Math.max(2, Math.ceil(word.length / 3)) ? best : undefined;
}

function describe(
  error: { keyword: string; params: Record<string, unknown>; message: string },
  node?: SchemaNode,
) {
  switch (error.keyword) {
    case 'enum':
      return `must be one of ${(node?.enum ?? (error.params['allowedValues'] as unknown[]) ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      if (node?.description?.startsWith('must')) return node.description;
      return node?.pattern === '^/'
        ? 'must be an absolute path'
        : `must match ${String(error.params['pattern'])}`;
    case 'type':
      return `must be ${articled(String(error.params['type'] ?? node?.type))}`;
    case 'required':
      return `is required`;
    case 'minimum':
      return `must be at least ${String(error.params['limit'] ?? node?.minimum)}`;
    case 'maximum':
      return `must be at most ${String(error.params['limit'] ?? node?.maximum)}`;
    case 'minItems':
      return `must have at least ${String(error.params['limit'] ?? node?.minItems)} item(s)`;
    case 'minLength':
      return 'must not be empty';
    default:
      return error.message;
  }
}

const articled = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** Validates `value` against `schema`; returns every problem, none when valid. */
export function validate(schema: TSchema, value: unknown, source: string, text?: string): ConfigIssue[] {
  if (Value.Check(schema, value)) return [];
  const root = schema as unknown as SchemaNode;
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    const e = error as unknown as {
      keyword: string;
      instancePath: string;
      params: Record<string, unknown>;
      message: string;
    };
    if (e.keyword === 'boolean' || e.keyword === 'anyOf' || e.keyword === 'const') continue; // restated by their parent
    const segments = pointerSegments(e.instancePath);
    if (e.keyword === 'additionalProperties') {
      const known = Object.keys(schemaAt(root, segments)?.properties ?? {});
      for (const key of (e.params['additionalProperties'] as string[]) ?? []) {
        const suggestion = closest(key, known);
        const path = toKeyPath([...segments, key]);
        issues.push(
          withLine(
            {
              source,
              path,
              message: `unknown key${suggestion ? ` (did you mean "${toKeyPath([...segments, suggestion])}"?)` : ''}`,
            },
            text,
          ),
        );
      }
      continue;
    }
    if (e.keyword === 'required')
      segments.push(String(e.params['requiredProperties'] ?? e.params['missingProperty'] ?? ''));
    const path = toKeyPath(segments);
    const key = `${path}\u0000${e.keyword}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(withLine({ source, path, message: describe(e, schemaAt(root, segments)) }, text));
  }
  return issues;
}

/** Best effort: the line of the deepest named key of `path` in a TOML text. */
export function withLine(issue: ConfigIssue, text: string | undefined): ConfigIssue {
  if (!text) return issue;
  const names = issue.path.split(/[.[\]]/).filter((s) => s !== '' && !/^\d+$/.test(s));
  const lines = text.split('\n');
  let from = 0;
  // Walk the table headers first ([a] or [a.b]), then the key itself.
  for (let n = names.length - 1; n >= 1; n--) {
    const header = names.slice(0, n).join('.');
    const at = lines.findIndex((l) => l.trim() === `[${header}]` || l.trim() === `[[${header}]]`);
    if (at >= 0) {
      from = at;
      break;
    }
  }
  const last = names[names.length - 1];
  if (!last) return issue;
  const keyRe = new RegExp(`^\\s*(?:[\\w.-]+\\.)?"?${last.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}"?\\s*=`);
  for (let i = from; i < lines.length; i++) {
    if (keyRe.test(lines[i]!)) return { ...issue, line: i + 1 };
  }
  return issue;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line
    ? `${issue.source}:${issue.line}${issue.column ? `:${issue.column}` : ''}`
    : issue.source;
  return `${where}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`;
}
