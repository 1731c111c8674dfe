// A minimal OTLP/HTTP receiver on loopback (JSON encoding, what the exporters in telemetry.ts send):
// it keeps every span and every metric name it is sent, so a test can check what a real exporter
// delivered. Not a collector: nothing is forwarded.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedSpan = {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  /** The instrumentation scope (our tracers are named paddock.<service>). */
  scope: string;
  service: string;
  attributes: Record<string, string | number | boolean>;
};

export type OtlpReceiver = {
  url: string;
  spans: ReceivedSpan[];
  metricNames: Set<string>;
  close: () => Promise<void>;
};

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };

/** OTLP/JSON ids are hex; older encoders sent base64. Either way: lower-case hex. */
function hexId(id: unknown): string {
  if (typeof id !== 'string' || id === '') return '';
  return /^[0-9a-fA-F]+$/.test(id) && (id.length === 32 || id.length === 16)
    ? id.toLowerCase()
    : Buffer.from(id, 'base64').toString('hex');
}

function attributesOf(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    const v = value.stringValue ?? value.boolValue ?? value.doubleValue ?? value.intValue;
    if (v !== undefined) out[key] = typeof v === 'string' && value.intValue !== undefined ? Number(v) : v;
  }
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metricNames = new Set<string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (req.url === '/v1/traces') {
        for (const rs of (body['resourceSpans'] as Record<string, unknown>[] | undefined) ?? []) {
          const resource = attributesOf((rs['resource'] as { attributes?: KeyValue[] } | undefined)?.attributes);
          for (const ss of (rs['scopeSpans'] as Record<string, unknown>[] | undefined) ?? []) {
            const scope = (ss['scope'] as { name?: string } | undefined)?.name ?? '';
            for (const s of (ss['spans'] as Record<string, unknown>[] | undefined) ?? []) {
              spans.push({
                traceId: hexId(s['traceId']),
                spanId: hexId(s['spanId']),
                parentSpanId: hexId(s['parentSpanId']),
                name: String(s['name']),
                kind: Number(s['kind'] ?? 0),
                scope,
                service: String(resource['service.name'] ?? ''),
                attributes: attributesOf(s['attributes'] as KeyValue[] | undefined),
              });
            }
          }
        }
      } else if (req.url === '/v1/metrics') {
        for (const rm of (body['resourceMetrics'] as Record<string, unknown>[] | undefined) ?? []) {
          for (const sm of (rm['scopeMetrics'] as Record<string, unknown>[] | undefined) ?? []) {
            for (const m of (sm['metrics'] as { name?: string }[] | undefined) ?? []) {
              if (m.name) metricNames.add(m.name);
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    metricNames,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
