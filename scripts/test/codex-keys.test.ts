// docs/codex-compatibility.md's "Fate of each Codex key" tables are generated from the loader's table:
// the committed block must be what the generator gives now, and `--check` must catch a stale one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { CODEX_CONFIG_KEYS, CODEX_REQUIREMENTS_KEYS } from '@paddock/config';
import { CODEX_DOC_PATH, renderCodexKeys, withCodexKeysBlock } from '../codex-keys.ts';

const script = resolve(import.meta.dirname, '..', 'codex-keys.ts');
const runCheck = (file: string) =>
  spawnSync(process.execPath, [script, '--check', '--file', file], { encoding: 'utf8', timeout: 60_000 });

describe('Codex key table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-codex-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the committed table is what codex-keys.ts gives (run `npm run codex-keys`)', () => {
    const doc = readFileSync(CODEX_DOC_PATH, 'utf8');
    assert.equal(doc, withCodexKeysBlock(doc, renderCodexKeys()));
  });

  test('every key of both tables has a row with its fate', () => {
    const rendered = renderCodexKeys();
    for (const key of [...Object.keys(CODEX_CONFIG_KEYS), ...Object.keys(CODEX_REQUIREMENTS_KEYS)]) {
      assert.match(rendered, new RegExp(`\\| \`${key.replace(/[.*]/g, '\\$&')}\` \\| (implemented|not applicable|refused)`), key);
    }
  });

  test('--check passes on a fresh file and fails, naming the fix, on a stale one', () => {
    const fresh = join(dir, 'fresh.md');
    copyFileSync(CODEX_DOC_PATH, fresh);
    assert.equal(runCheck(fresh).status, 0);
    const stale = join(dir, 'stale.md');
    writeFileSync(stale, readFileSync(CODEX_DOC_PATH, 'utf8').replace('| `review_model` | not applicable', '| `review_model` | implemented'));
    const bad = runCheck(stale);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /npm run codex-keys/);
  });
});
