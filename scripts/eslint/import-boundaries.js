// ESLint rule `paddock/import-boundaries`: the layout's seams. A file imports another unit (a package
// under packages/, a service under services/, the e2e suite) only by its package name and only through
// that package's `exports`; never its src/, test/ or agent/ by path. Libraries never import a service;
// a service's src/ never imports another service; the in-sandbox agent imports node: built-ins only.
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, posix, relative, sep } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** `packages/x`, `services/x`, `tests/e2e`, `loadtest`, or '' (the repository's own scripts). */
function unitOf(path) {
  const m = /^(packages|services)\/([^/]+)\//.exec(path);
  if (m) return `${m[1]}/${m[2]}`;
  if (path.startsWith('tests/e2e/')) return 'tests/e2e';
  if (path.startsWith('loadtest/')) return 'loadtest';
  return '';
}

const manifests = new Map();
/** The workspace whose package.json names `name`, with its exports; undefined when none does. */
function workspace(name) {
  if (manifests.has(name)) return manifests.get(name);
  const short = name.slice('@paddock/'.length);
  const candidates = [`packages/${short}`, `services/${short}`, short === 'e2e-tests' ? 'tests/e2e' : `${short}`];
  let found;
  for (const dir of candidates) {
    const file = join(ROOT, dir, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    if (manifest.name === name) found = { dir, exports: Object.keys(manifest.exports ?? {}) };
  }
  manifests.set(name, found);
  return found;
}

/** Why `spec` may not be imported from `file` (both repository-relative), or undefined. */
export function boundaryViolation(file, spec) {
  const from = unitOf(file);
  if (file.startsWith('services/sandbox-worker/agent/')) {
    return isBuiltin(spec) ? undefined : 'the in-sandbox agent imports node: built-ins only';
  }
  if (spec.startsWith('.')) {
    const target = posix.normalize(posix.join(posix.dirname(file), spec));
    const to = unitOf(target);
    if (to === from || to === '') return undefined;
    return `${target} belongs to ${to}: import it by its package name, through its exports`;
  }
  if (!spec.startsWith('@paddock/')) return undefined;
  const [scope, name, ...rest] = spec.split('/');
  const ws = workspace(`${scope}/${name}`);
  if (!ws) return `${scope}/${name} is no workspace of this repository`;
  const sub = rest.length ? `./${rest.join('/')}` : '.';
  if (!ws.exports.includes(sub)) return `${spec} is not in ${scope}/${name}'s exports (${ws.exports.join(', ')})`;
  if (ws.dir === from) return `a package imports itself by name: use a relative path`;
  const isService = ws.dir.startsWith('services/');
  if (isService && from.startsWith('packages/')) return `a library never imports a service (${ws.dir})`;
  if (isService && from.startsWith('services/') && file.startsWith(`${from}/src/`)) {
    return `a service's src/ never imports another service (${ws.dir}); share through a package`;
  }
  return undefined;
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: "imports cross a unit's boundary only by package name and through its exports" },
    schema: [],
    messages: { boundary: 'import of {{spec}}: {{why}}' },
  },
  create(context) {
    const file = relative(ROOT, context.filename).split(sep).join('/');
    if (file.startsWith('..')) return {};
    const check = (node) => {
      if (!node || node.type !== 'Literal' || typeof node.value !== 'string') return;
      const why = boundaryViolation(file, node.value);
      if (why) context.report({ node, messageId: 'boundary', data: { spec: node.value, why } });
    };
    return {
      ImportDeclaration: (n) => check(n.source),
      ExportNamedDeclaration: (n) => check(n.source),
      ExportAllDeclaration: (n) => check(n.source),
      ImportExpression: (n) => check(n.source),
    };
  },
};

export default { rules: { 'import-boundaries': rule } };
