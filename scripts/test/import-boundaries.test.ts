// The layout's seams hold: the lint rule paddock/import-boundaries and the CI grep
// (scripts/check-imports.sh) each refuse a deliberate violation, and the tree as it is has none.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '@paddock/platform';

const eslint = new ESLint({ cwd: REPO_ROOT });
// Built, not written out: this file's own text must pass the grep it tests.
const up = (n: number) => '../'.repeat(n);
/** The boundary messages ESLint reports for `code` as if it were the file at `path`. */
async function boundaryErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, path) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'paddock/import-boundaries').map((m) => m.message);
}

describe('lint rule paddock/import-boundaries', () => {
  test("a service importing another service's src/ by path fails", async () => {
    const errors = await boundaryErrors(
      'services/guardian/src/violation.ts',
      `export { startOrchestrator } from '${up(2)}orchestrator/src/orchestrator.ts';\n`,
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /services\/orchestrator\/src\/orchestrator\.ts belongs to services\/orchestrator/);
  });

  test("the e2e suite importing a service's test/ by path fails; by package name passes", async () => {
    assert.equal((await boundaryErrors('tests/e2e/violation.ts', `export * from '${up(2)}services/guardian/test/helpers.ts';\n`)).length, 1);
    assert.deepEqual(await boundaryErrors('tests/e2e/fine.ts', "export { buildApp } from '@paddock/guardian';\n"), []);
  });

  test("a package's internals by subpath fail; its explicit subpath exports pass", async () => {
    const internal = await boundaryErrors('loadtest/violation.ts', `export * from '@paddock/contracts/${'src'}/keyspace.ts';\n`);
    assert.equal(internal.length, 1);
    assert.match(internal[0]!, /not in @paddock\/contracts's exports/);
    assert.deepEqual(await boundaryErrors('docker/fine.ts', "export * from '@paddock/testing/fake-model';\n"), []);
  });

  test('a library importing a service fails, and so does a service importing another service', async () => {
    const lib = await boundaryErrors('packages/turn-queue/src/violation.ts', "export * from '@paddock/sandbox-worker';\n");
    assert.match(lib[0] ?? '', /a library never imports a service/);
    const svc = await boundaryErrors('services/egress-proxy/src/violation.ts', "export * from '@paddock/sandbox-worker';\n");
    assert.match(svc[0] ?? '', /a service's src\/ never imports another service/);
  });

  test('the in-sandbox agent imports node: built-ins only', async () => {
    assert.equal((await boundaryErrors('services/sandbox-worker/agent/violation.ts', "import 'typebox';\n")).length, 1);
    assert.deepEqual(await boundaryErrors('services/sandbox-worker/agent/fine.ts', "import 'node:fs';\n"), []);
  });

  test('dynamic imports are held too', async () => {
    const errors = await boundaryErrors('loadtest/violation.ts', `await import('${up(1)}services/orchestrator/src/app.ts');\n`);
    assert.equal(errors.length, 1);
  });
});

describe('CI grep scripts/check-imports.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-imports-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(REPO_ROOT, 'scripts/check-imports.sh');

  test('the tree as it is passes', () => {
    execFileSync('bash', [script], { cwd: REPO_ROOT, stdio: 'pipe' });
  });

  test("a file importing another service's src/ by path fails it, naming the file", () => {
    mkdirSync(join(dir, 'services/guardian/src'), { recursive: true });
    writeFileSync(join(dir, 'services/guardian/src/ok.ts'), "import { x } from './x.ts';\n");
    const clean = spawnSync('bash', [script, dir], { encoding: 'utf8' });
    assert.equal(clean.status, 0, clean.stderr);
    writeFileSync(join(dir, 'services/guardian/src/bad.ts'), `import { app } from '${up(2)}orchestrator/src/app.ts';\n`);
    const r = spawnSync('bash', [script, dir], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /services\/guardian\/src\/bad\.ts:1:/);
  });
});
