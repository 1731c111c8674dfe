// docs/security.md's "who may set each key" table is generated from the schema's owners: the committed
// block must be what the generator gives now, every key must have an owner, and `--check` must catch a
// stale block.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { ClusterFile, Requirements } from '@paddock/config';
import { OWNERS_PATH, renderOwners, withOwnersBlock } from '../key-owners.ts';

const script = resolve(import.meta.dirname, '..', 'key-owners.ts');
const runCheck = (file: string) =>
  spawnSync(process.execPath, [script, '--check', '--file', file], { encoding: 'utf8', timeout: 60_000 });

describe('key owners table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-key-owners-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("docs/security.md's committed table is what the schema's owners generate (run `npm run config-reference`)", () => {
    const doc = readFileSync(OWNERS_PATH, 'utf8');
    assert.equal(doc, withOwnersBlock(doc, renderOwners()));
    assert.ok(doc.includes('## Boundaries\n'), 'the section the lead fills in is there');
  });

  test('every top-level key and every requirement has a row, with its owner', () => {
    const rendered = renderOwners();
    const top = Object.keys((ClusterFile as unknown as { properties: object }).properties).filter((k) => k !== 'requirements');
    const reqs = Object.keys((Requirements as unknown as { properties: object }).properties).map((k) => `requirements.${k}`);
    const missing = [...top, ...reqs].filter((k) => !rendered.includes(`\`${k}\``) && !rendered.includes(`\`[${k}]\``));
    assert.deepEqual(missing, []);
    assert.match(rendered, /\| `\[model_providers\]` \(every key in it\) \| operator \|/);
    assert.match(rendered, /\| `requirements\.allowed_domains` \| workspace owners and admins \|/);
  });

  test('--check passes on a fresh file and fails, naming the fix, on a stale one', () => {
    const fresh = join(dir, 'fresh.md');
    copyFileSync(OWNERS_PATH, fresh);
    const ok = runCheck(fresh);
    assert.equal(ok.status, 0, ok.stderr);

    const stale = join(dir, 'stale.md');
    writeFileSync(stale, readFileSync(OWNERS_PATH, 'utf8').replace('| `[model_providers]` (every key in it) | operator |', '| `[model_providers]` (every key in it) | members |'));
    const bad = runCheck(stale);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /stale.*npm run config-reference/);

    const noMarkers = join(dir, 'no-markers.md');
    writeFileSync(noMarkers, '# security without the table\n');
    const unmarked = runCheck(noMarkers);
    assert.equal(unmarked.status, 1);
    assert.match(unmarked.stderr, /markers/);
  });
});
