// npm start's terminal log lines: one line per record, service and level named, fields as key=value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prettyLogLine } from '../log-format.ts';

test('a pino record becomes one readable line; other text keeps the service prefix', () => {
  const line = prettyLogLine(
    'orchestrator',
    JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 1, 12, 34, 56), pid: 1, hostname: 'h', msg: 'slow request', route: '/v1/threads', ms: 812 }),
    false,
  );
  assert.equal(line, '12:34:56 orchestrator   WARN  slow request route=/v1/threads ms=812');
  assert.equal(prettyLogLine('guardian', 'plain text', false), 'guardian       plain text');
  assert.match(prettyLogLine('guardian', '{"level":30,"msg":"x"}', true), /\x1b\[32mguardian/);
});
