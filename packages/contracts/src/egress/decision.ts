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

const NUMERIC = new Set(['at_ms', 'port', 'bytes_out', 'bytes_in', 'duration_ms', 'status']);

/** Flat field list for XADD. */
export function decisionToFields(record: DecisionRecord): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(record)) out.push(k, String(v));
  return out;
}

/** Parses an XRANGE entry's flat field list back into a record. */
export function decisionFromFields(fields: string[]): DecisionRecord {
  const obj: Record<string, string | number> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const key = fields[i] as string;
    const value = fields[i + 1] as string;
    obj[key] = NUMERIC.has(key) ? Number(value) : value;
  }
  return obj as unknown as DecisionRecord;
}
