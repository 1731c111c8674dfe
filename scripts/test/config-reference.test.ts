// The operator's config reference (the README's last section) is generated from the config schema:
// the committed block must be what the generator gives now, and `--check` must catch a stale one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { ClusterFile } from '@paddock/config';
import { REFERENCE_PATH, renderReference, withBlock } from '../config-reference.ts';

const script = resolve(import.meta.dirname, '..', 'config-reference.ts');
const runCheck = (file: string) =>
  spawnSync(process.execPath, [script, '--check', '--file', file], { encoding: 'utf8', timeout: 60_000 });

type Node = { properties?: Record<string, Node>; patternProperties?: Record<string, Node>; items?: Node };

/** Every key name the schema accepts, at any depth. */
function keyNames(schema: Node, into = new Set<string>()): Set<string> {
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    into.add(key);
    keyNames(child, into);
  }
  for (const child of Object.values(schema.patternProperties ?? {})) keyNames(child, into);
  if (schema.items) keyNames(schema.items, into);
  return into;
}

describe('config reference', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paddock-config-ref-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the README's committed reference is what the schema generates (run `npm run config-reference`)", () => {
    const readme = readFileSync(REFERENCE_PATH, 'utf8');
    assert.equal(readme, withBlock(readme, renderReference()));
    assert.ok(readme.includes('## Configuration reference\n'));
  });

  test('every key of the schema appears in the reference', () => {
    const rendered = renderReference();
    const missing = [...keyNames(ClusterFile as unknown as Node)].filter((k) => !rendered.includes(`\`${k}\``) && !rendered.includes(`${k}]`) && !rendered.includes(`.${k}`));
    assert.deepEqual(missing, []);
  });

  test('--check passes on a fresh file and fails, naming the fix, on a stale one', () => {
    const fresh = join(dir, 'fresh.md');
    copyFileSync(REFERENCE_PATH, fresh);
    const ok = runCheck(fresh);
    assert.equal(ok.status, 0, ok.stderr);

    const stale = join(dir, 'stale.md');
    writeFileSync(stale, readFileSync(REFERENCE_PATH, 'utf8').replace('max_in_flight', 'max_in_flight_old'));
    const bad = runCheck(stale);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /stale.*npm run config-reference/);

    const noMarkers = join(dir, 'no-markers.md');
    writeFileSync(noMarkers, '# a README without the reference\n');
    const unmarked = runCheck(noMarkers);
    assert.equal(unmarked.status, 1);
    assert.match(unmarked.stderr, /markers/);

    const absent = runCheck(join(dir, 'absent.md'));
    assert.equal(absent.status, 1);
  });
});
