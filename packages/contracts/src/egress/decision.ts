// The decision stream's record: one entry per proxied request (plain HTTP request or CONNECT
// tunnel), written when it ends so it carries the bytes moved. Redis stream fields are strings.
import type { AllowReason, RefusalReason } from './reasons.ts';

export type DecisionRecord = {
  at_ms: number;
  sandbox_id: string;
  tenant: string;
  thread_id: string;
  exec_id: string;
  /** Source address of the connection. */
  source: string;
  host: string;
  port: number;
  method: string;
  /** `http` (absolute-form request) or `connect` (tunnel). */
  kind: 'http' | 'connect';
  decision: 'allow' | 'deny';
  reason: AllowReason | RefusalReason;
  /** Address the proxy connected to (the one it checked), empty when it did not connect. */
  address: string;
  /** Bytes from the sandbox to the upstream, and back. */
  bytes_out: number;
  bytes_in: number;
  duration_ms: number;
  review_id: string;
  status: number;
};

/** The record's fields, in the order of an entry's one value (`d`: a JSON array of them). */
export const DECISION_FIELDS = [
  'at_ms',
  'sandbox_id',
  'tenant',
  'thread_id',
  'exec_id',
  'source',
  'host',
  'port',
  'method',
  'kind',
  'decision',
  'reason',
  'address',
  'bytes_out',
  'bytes_in',
  'duration_ms',
  'review_id',
  'status',
] as const satisfies readonly (keyof DecisionRecord)[];

const NUMERIC = new Set(['at_ms', 'port', 'bytes_out', 'bytes_in', 'duration_ms', 'status']);

/**
 * The XADD field list of a record: one field `d` whose value is the JSON array of the record's
 * values in DECISION_FIELDS order. One field, not eighteen: the proxy writes one entry per request,
 * and encoding 36 arguments per entry was a fifth of its time under load (bench:proxy).
 */
export function decisionToFields(record: DecisionRecord): string[] {
  return ['d', JSON.stringify(DECISION_FIELDS.map((k) => record[k]))];
}

/** Parses an XRANGE entry's field list back into a record (also the older one-field-per-key form). */
export function decisionFromFields(fields: string[]): DecisionRecord {
  const obj: Record<string, string | number> = {};
  if (fields.length === 2 && fields[0] === 'd') {
    const values = JSON.parse(fields[1] as string) as (string | number)[];
    DECISION_FIELDS.forEach((k, i) => {
      obj[k] = values[i] ?? (NUMERIC.has(k) ? 0 : '');
    });
    return obj as unknown as DecisionRecord;
  }
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const key = fields[i] as string;
    const value = fields[i + 1] as string;
    obj[key] = NUMERIC.has(key) ? Number(value) : value;
  }
  return obj as unknown as DecisionRecord;
}
