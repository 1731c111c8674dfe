// The decision stream's entry format: one field `d` (a JSON array in DECISION_FIELDS order) written,
// and both that and the older one-field-per-key entries read back as the same record.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DecisionRecord, DECISION_FIELDS, decisionFromFields, decisionToFields } from '../src/egress/decision.ts';

const record: DecisionRecord = {
  at_ms: 1_764_000_000_000,
  sandbox_id: 'sbx_1',
  tenant: 'ws_1',
  thread_id: 'thr_1',
  exec_id: 'ex_1',
  source: '10.0.0.2',
  host: 'example.test',
  port: 443,
  method: 'CONNECT',
  kind: 'connect',
  decision: 'allow',
  reason: 'allowed-by-policy',
  address: '10.0.0.9',
  bytes_out: 517,
  bytes_in: 4096,
  duration_ms: 12,
  review_id: '',
  status: 200,
};

test('a record is written as one field and read back whole', () => {
  const fields = decisionToFields(record);
  assert.equal(fields.length, 2);
  assert.equal(fields[0], 'd');
  assert.deepEqual(JSON.parse(fields[1]!), DECISION_FIELDS.map((k) => record[k]));
  assert.deepEqual(decisionFromFields(fields), record);
});

test('an entry of the older one-field-per-key form reads as the same record', () => {
  const legacy = Object.entries(record).flatMap(([k, v]) => [k, String(v)]);
  assert.deepEqual(decisionFromFields(legacy), record);
});

test('every field of the record is in DECISION_FIELDS once', () => {
  assert.deepEqual([...DECISION_FIELDS].sort(), Object.keys(record).sort());
});
