// Test helpers: an orchestrator on a real Redis, a log capture, and request shorthands.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { ClusterFile } from '@paddock/config';
import { startOrchestrator, type Orchestrator } from '../src/orchestrator.ts';
import { type OrchestratorSettings, orchestratorSettings } from '../src/settings.ts';

export const OPERATOR_KEY = `op-${process.pid}-${Math.random().toString(36).slice(2)}`;

export function testSettings(over: Partial<OrchestratorSettings> = {}): OrchestratorSettings {
  const base = orchestratorSettings(
    { file: {}, orchestrator: { host: '127.0.0.1', port: 0, operatorKeyEnv: 'X' } },
    {
      X: OPERATOR_KEY,
    },
  );
  // Every test calls from 127.0.0.1 against a shared Redis, and many prove refusals (401): the
  // per-address limit is lifted unless a test sets its own.
  return { ...base, rateLimit: { ...base.rateLimit, anonymousRequests: 1_000_000 }, ...over };
}

/** Every log line the orchestrator writes, as text (to prove secrets never reach it). */
export function captureLogs(): { logger: pino.Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => chunks.join('') };
}

export async function start(
  redisUrl: string,
  o: {
    settings?: Partial<OrchestratorSettings>;
    clusterFile?: ClusterFile;
    now?: () => number;
    dispatch?: boolean;
    webhookDelivery?: boolean;
    logger?: pino.Logger;
  } = {},
): Promise<Orchestrator> {
  return startOrchestrator({
    redisUrl,
    settings: testSettings(o.settings),
    clusterFile: o.clusterFile,
    logger: o.logger ?? pino({ level: 'silent' }),
    now: o.now,
    dispatch: o.dispatch,
    webhookDelivery: o.webhookDelivery,
  });
}

export type Api = {
  call: (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    token?: string,
    body?: unknown,
    headers?: Record<string, string>,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are free-form JSON the tests index into
  ) => Promise<{ status: number; json: any; headers: Record<string, unknown>; body: string }>;
};

export function api(orch: () => Orchestrator): Api['call'] {
  return async (method, url, token, body, headers = {}) => {
    const res = await orch().app.inject({
      method,
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      ...(body === undefined
        ? {}
        : typeof body === 'string'
          ? { payload: body }
          : { payload: body as object }),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are free-form JSON the tests index into
    let json: any;
    try {
      json = res.json();
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json, headers: res.headers, body: res.body };
  };
}

/** A workspace with its owner token. */
export async function newWorkspace(call: Api['call'], name = 'acme') {
  const r = await call('POST', '/v1/workspaces', OPERATOR_KEY, { name, owner_email: `owner@${name}.test` });
  if (r.status !== 201) throw new Error(`workspace create: ${r.status} ${r.body}`);
  return { id: r.json.workspace.id as string, owner: r.json.owner_token.secret as string };
}

export async function newThread(call: Api['call'], token: string, config?: unknown) {
  const env = await call('POST', '/v1/environments', token, { name: 'e', image: 'paddock/sandbox-base:latest' });
  if (env.status !== 201) throw new Error(`env create: ${env.status} ${env.body}`);
  const thr = await call('POST', '/v1/threads', token, {
    environment_id: env.json.id,
    ...(config ? { config } : {}),
  });
  if (thr.status !== 201) throw new Error(`thread create: ${thr.status} ${thr.body}`);
  return { envId: env.json.id as string, threadId: thr.json.id as string };
}
