// `npm test`: every node:test suite of every workspace, unit and integration, in one run.
// Extra arguments narrow it: `npm test -- services/guardian` runs that folder's suites only.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const filters = process.argv.slice(2);
const files = globSync([
  'packages/*/test/**/*.test.ts',
  'services/*/test/**/*.test.ts',
  'tests/e2e/**/*.test.ts',
  'scripts/test/**/*.test.ts',
  'loadtest/test/**/*.test.ts',
]).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// One suite at a time by default: the end-to-end suites each run a whole cluster, and two at once
// on a 2-core machine starve each other's timing. PADDOCK_TEST_CONCURRENCY=2 halves the wall time.
const concurrency = process.env['PADDOCK_TEST_CONCURRENCY'] ?? '1';
const r = spawnSync(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    '--test-timeout=300000',
    ...files.sort(),
  ],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
