// Generates docs/config-reference.md, the operator's reference of every paddock.toml key, from the
// TypeBox schema the services validate with (services/shared/src/config/schema.ts and sections/):
// the reference cannot drift from what is accepted. `--check` writes nothing and exits 1 when the
// committed file differs from what the schema gives (CI runs it through scripts/test/).
// `--file PATH` reads or writes another file (tests).
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { AgentConfig, ClusterFile } from '@paddock/shared/config/schema.ts';

type Schema = {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  default?: unknown;
  description?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  minItems?: number;
  anyOf?: Schema[];
};

export const REFERENCE_PATH = resolve(import.meta.dirname, '..', 'docs', 'config-reference.md');

type Section = { title: string; path: string; intro: string; rows: string[] };

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

function isObject(s: Schema): boolean {
  return s.type === 'object' && s.properties !== undefined;
}

function describeType(s: Schema): string {
  if (s.enum) return `one of ${s.enum.map(code).join(', ')}`;
  if (s.anyOf) return s.anyOf.map(describeType).join(' or ');
  const bounds: string[] = [];
  if (s.minimum !== undefined) bounds.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) bounds.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) bounds.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined && s.minLength > 0) bounds.push('non-empty');
  if (s.pattern !== undefined) bounds.push(`matching ${code(s.pattern)}`);
  const suffix = bounds.length > 0 ? ` (${bounds.join(', ')})` : '';
  switch (s.type) {
    case 'array': {
      const n = s.minItems ? `, at least ${s.minItems}` : '';
      return `array of ${s.items ? describeType(s.items) : 'values'}${n}${suffix}`;
    }
    case 'object':
      if (s.patternProperties) {
        const [keyPattern, value] = Object.entries(s.patternProperties)[0]!;
        return `table: name ${code(keyPattern)} → ${describeType(value)}`;
      }
      return 'table';
    case undefined:
      return 'any';
    default:
      return `${s.type}${suffix}`;
  }
}

/** One table per TOML table; nested tables, maps of tables and arrays of tables get their own. */
function collect(schema: Schema, path: string, title: string, intro: string, out: Section[]): void {
  const section: Section = { title, path, intro, rows: [] };
  out.push(section);
  const nested: (() => void)[] = [];
  const required = new Set(schema.required ?? []);
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    const full = path ? `${path}.${key}` : key;
    const mapOf = prop.patternProperties ? Object.values(prop.patternProperties)[0] : undefined;
    if (isObject(prop)) {
      nested.push(() => collect(prop, full, `[${full}]`, prop.description ?? '', out));
      continue;
    }
    if (mapOf && isObject(mapOf)) {
      nested.push(() =>
        collect(mapOf, `${full}.<name>`, `[${full}.<name>]`, prop.description ?? 'One table per name.', out),
      );
      continue;
    }
    if (prop.type === 'array' && prop.items && isObject(prop.items)) {
      nested.push(() => collect(prop.items!, full, `[[${full}]]`, prop.description ?? '', out));
      continue;
    }
    const def = prop.default === undefined ? (required.has(key) ? '**required**' : '—') : code(prop.default);
    section.rows.push(
      `| \`${key}\` | ${cell(describeType(prop))} | ${cell(def)} | ${cell(prop.description ?? '')} |`,
    );
  }
  for (const n of nested) n();
}

export function renderReference(): string {
  const root = ClusterFile as unknown as Schema;
  const agentKeys = new Set(Object.keys((AgentConfig as unknown as Schema).properties ?? {}));
  const agent: Schema = {
    type: 'object',
    properties: Object.fromEntries(Object.entries(root.properties ?? {}).filter(([k]) => agentKeys.has(k))),
  };
  const sections: Section[] = [];
  collect(
    agent,
    '',
    'Agent settings (top level)',
    'Set in the cluster file and overridden, in order, by the environment, the thread and the turn; ' +
      "each tenant's requirements constrain the result.",
    sections,
  );
  for (const [key, prop] of Object.entries(root.properties ?? {})) {
    if (agentKeys.has(key) || !isObject(prop)) continue;
    const intro =
      key === 'requirements'
        ? "A tenant's managed requirements: every layer's value must be inside them, or the request is refused with a 400."
        : 'Service section: set only by the cluster file and PADDOCK_* environment variables.';
    collect(prop, key, `[${key}]`, intro, sections);
  }
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run config-reference` (scripts/config-reference.ts) from the config schema',
    '     in services/shared/src/config/. Do not edit by hand: CI fails when this file is stale. -->',
    '',
    'The cluster file is `paddock.toml` in the working directory or the path in `PADDOCK_CONFIG`.',
    'Unknown keys are errors that name the file, the line and the key. Durations end in `_ms` or `_s`,',
    'sizes in `_bytes` or `_mb`. Secrets are never written here: a key ending in `_env` names the',
    'environment variable that holds one. `paddock.example.toml` shows a complete file.',
    '',
    'Environment variables read at start-up override the service sections: `PADDOCK_REDIS_URL`,',
    '`PADDOCK_<SERVICE>_HOST`, `PADDOCK_<SERVICE>_PORT` (`ORCHESTRATOR`, `GUARDIAN`, `EGRESS_PROXY`,',
    '`SANDBOX_WORKER`), `PADDOCK_GUARDIAN_URL`, `PADDOCK_GUARDIAN_MODEL_BASE_URL`, `PADDOCK_GUARDIAN_MODEL`.',
    '',
  ];
  for (const s of sections) {
    if (s.rows.length === 0 && sections.some((o) => o !== s && o.path.startsWith(`${s.path}.`))) {
      // A table holding only sub-tables: its heading alone would say nothing.
      if (s.path !== '') continue;
    }
    lines.push(`## ${s.title}`, '');
    if (s.intro) lines.push(s.intro, '');
    if (s.rows.length > 0) {
      lines.push('| key | type | default | meaning |', '| --- | --- | --- | --- |', ...s.rows, '');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

if (import.meta.main) {
  const check = process.argv.includes('--check');
  const fileArg = process.argv.indexOf('--file');
  const target = fileArg > 0 && process.argv[fileArg + 1] ? resolve(process.argv[fileArg + 1]!) : REFERENCE_PATH;
  const rendered = renderReference();
  const shown = relative(process.cwd(), target) || target;
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(target, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (committed !== rendered) {
      console.error(`${shown} is stale: the config schema changed. Run \`npm run config-reference\` and commit it.`);
      process.exit(1);
    }
    console.error(`${shown} is up to date`);
  } else {
    writeFileSync(target, rendered);
    console.error(`wrote ${shown}`);
  }
}
