// One trace per turn, received over OTLP/HTTP: the test process registers the real telemetry SDK
// (startTelemetry, exporting to a loopback OTLP receiver), runs the whole cluster, and sends one
// scripted turn through the API with three actions: a fetch the policy allows, a fetch of a host it
// does not (the proxy asks the guardian, which denies), and an escalated command the guardian
// approves (and, before it, an agent turn whose model calls are spans too). Every hop that is not one call stack — the API request, the fair backlog and BullMQ,
// the worker, each review, each proxy decision — must carry the context, so every span the turn
// produced shares the trace id the API answered with, and each has its parent in that trace.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startTelemetry, type Telemetry } from '@paddock/platform';
import { type OtlpReceiver, type ReceivedSpan, type ScriptedReply, startOtlpReceiver, waitFor } from '@paddock/testing';
import { TURN_QUEUE, TURN_QUEUE_PREFIX } from '@paddock/contracts';
import { Queue } from 'bullmq';
import { type Cluster, jsonlEvents, newThread, newWorkspace, startCluster, waitForTurnEnd } from './cluster.ts';

let c: Cluster;
let receiver: OtlpReceiver;
let telemetry: Telemetry;

before(async () => {
  receiver = await startOtlpReceiver();
  telemetry = await startTelemetry('e2e', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
  c = await startCluster('e2e-trace');
  c.guardianModel.setHandler((req): ScriptedReply => {
    const deny = JSON.stringify(req.body).includes(c.forbidden.name);
    return {
      kind: 'json',
      value: {
        risk_level: deny ? 'high' : 'low',
        user_authorization: 'unknown',
        outcome: deny ? 'deny' : 'allow',
        rationale: deny ? 'the forbidden host is not needed' : 'routine',
      },
    };
  });
});
after(async () => {
  await telemetry?.shutdown().catch(() => undefined);
  await c?.close();
  await receiver?.close();
});

let agentTrace = '';
const callerTrace = randomBytes(16).toString('hex');
const callerSpan = randomBytes(8).toString('hex');

test('an agent turn: each model call is a span of the turn', async () => {
  const ws = await newWorkspace(c, 'trace-agent');
  const threadId = await newThread(c, ws.owner, { sandbox_mode: 'workspace-write', approval_policy: 'on-request' });
  c.agentModel.script({ kind: 'tool_call', name: 'shell', arguments: { command: ['ls'] } }, { kind: 'text', text: 'done' });
  const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/turns`, {
    method: 'POST',
    // A caller that traces its own work passes its context: the turn joins the caller's trace.
    headers: {
      authorization: `Bearer ${ws.owner}`,
      'content-type': 'application/json',
      traceparent: `00-${callerTrace}-${callerSpan}-01`,
    },
    body: JSON.stringify({ input: 'list the files' }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 202);
  agentTrace = res.headers.get('x-paddock-trace-id') ?? '';
  assert.equal(agentTrace, callerTrace, "the API continues the caller's trace");
  const end = await waitForTurnEnd(c, threadId, ((await res.json()) as { id: string }).id);
  assert.equal(end.type, 'turn.completed', JSON.stringify(end));
  // The spans are checked after the flush, in the next test.
});

test('a turn is one trace: API → queue → worker → each review and each proxy decision', async () => {
  const ws = await newWorkspace(c, 'trace');
  const threadId = await newThread(c, ws.owner, {
    sandbox_mode: 'workspace-write',
    approval_policy: 'on-request',
    approvals_reviewer: 'auto_review',
    network: { mode: 'allowlist', allowed_domains: [c.allowed.name], allowed_ports: [c.allowed.port, c.forbidden.port] },
  });
  const res = await fetch(`${c.apiUrl}/v1/threads/${threadId}/turns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ws.owner}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      commands: [
        { argv: ['curl', '-sS', `http://${c.allowed.name}:${c.allowed.port}/`] },
        { argv: ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${c.forbidden.name}:${c.forbidden.port}/`] },
        { argv: ['bash', '-c', 'echo outside > "$HOME/outside.txt" && cat "$HOME/outside.txt"'], escalate: { justification: 'a marker outside the workspace' } },
      ],
    }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 202);
  const turnId = ((await res.json()) as { id: string }).id;
  const traceId = res.headers.get('x-paddock-trace-id') ?? '';
  assert.match(traceId, /^[0-9a-f]{32}$/, 'the API names the turn trace');

  const end = await waitForTurnEnd(c, threadId, turnId);
  assert.equal(end.type, 'turn.completed', JSON.stringify(end));
  const outputs = (await jsonlEvents(c, ws.owner, threadId)).flatMap((e) =>
    e.type === 'item.completed' && e.turn_id === turnId && e.item.type === 'command_execution' ? [e.item.aggregated_output] : [],
  );
  assert.deepEqual(outputs, ['hello from the allowed server\n', '403', 'outside\n']);

  // BullMQ's `process` span ends once the job is marked completed, just after turn.completed.
  const queue = new Queue(TURN_QUEUE, { connection: { url: c.redis.url }, prefix: TURN_QUEUE_PREFIX });
  try {
    await waitFor(async () => (await queue.getJobState(turnId)) === 'completed', 10_000, 'job completed');
  } finally {
    await queue.close();
  }
  await new Promise((r) => setTimeout(r, 200));
  await telemetry.shutdown(); // flushes every ended span and the metrics to the receiver

  const spans = receiver.spans.filter((s) => s.traceId === traceId);
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const names = spans.map((s) => s.name);
  const explain = () => spans.map((s) => `${s.scope} ${s.name} ${s.spanId}<-${s.parentSpanId}`).join('\n');
  const only = (name: string): ReceivedSpan[] => spans.filter((s) => s.name === name);
  const parentOf = (s: ReceivedSpan) => byId.get(s.parentSpanId);

  // One root, the API request (@fastify/otel); every other span's parent is in the same trace.
  const roots = spans.filter((s) => !s.parentSpanId);
  assert.deepEqual(roots.map((s) => [s.name, s.attributes['http.route']]), [['request', '/v1/threads/:id/turns']], explain());
  for (const s of spans) if (s.parentSpanId) assert.ok(byId.has(s.parentSpanId), `${s.name}: parent in the trace\n${explain()}`);
  // No other trace carries this turn's spans.
  assert.equal(receiver.spans.filter((s) => s.attributes['paddock.turn_id'] === turnId && s.traceId !== traceId).length, 0);

  // The chain API → fair backlog → BullMQ → worker.
  const [accept] = only('turn.accept');
  const [queued] = only('turn.queued');
  const [processed] = spans.filter((s) => s.name.startsWith('process '));
  const [run] = only('turn.run');
  assert.ok(accept && queued && processed && run, explain());
  assert.equal(accept.scope, 'paddock.orchestrator');
  assert.equal(parentOf(accept), roots[0]);
  assert.equal(accept.attributes['paddock.turn_id'], turnId);
  assert.equal(parentOf(queued), accept);
  assert.equal(parentOf(processed), queued);
  assert.equal(processed.attributes['bullmq.job.id'], turnId);
  assert.equal(parentOf(run), processed);
  assert.equal(run.attributes['paddock.turn.outcome'], 'completed');

  // Three actions under the run; their reviews and proxy decisions under them.
  const actions = only('turn.action');
  assert.equal(actions.length, 3, explain());
  for (const a of actions) assert.equal(parentOf(a), run);
  const decisions = only('egress.decision');
  assert.deepEqual(decisions.map((d) => d.attributes['paddock.egress.decision']).sort(), ['allow', 'deny'], explain());
  for (const d of decisions) {
    assert.equal(d.scope, 'paddock.egress-proxy');
    assert.equal(parentOf(d)?.name, 'turn.action', 'a proxy decision is a child of the action that made the request');
  }
  const guardianReviews = only('guardian.review');
  assert.equal(guardianReviews.length, 2, explain());
  const reviewParents = guardianReviews.map((g) => {
    const request = parentOf(g);
    assert.equal(request?.name, 'review.request', 'the guardian continues the caller’s client span');
    return parentOf(request!)?.name;
  });
  // One review asked by the proxy (the forbidden host), one by the worker (the escalation).
  assert.deepEqual(reviewParents.sort(), ['egress.decision', 'turn.action']);
  const denied = decisions.find((d) => d.attributes['paddock.egress.decision'] === 'deny')!;
  assert.equal(denied.attributes['paddock.egress.host'], c.forbidden.name);
  assert.ok(names.includes('guardian.review'));

  // The agent turn of the first test: two model calls and one action under its run.
  const agent = receiver.spans.filter((s) => s.traceId === agentTrace);
  const agentRequest = agent.find((s) => s.name === 'request');
  assert.equal(agentRequest?.parentSpanId, callerSpan, "the API request's span is a child of the caller's");
  const agentRun = agent.find((s) => s.name === 'turn.run');
  const calls = agent.filter((s) => s.name === 'model.call');
  assert.equal(calls.length, 2, agent.map((s) => s.name).join(', '));
  for (const m of calls) assert.equal(m.parentSpanId, agentRun?.spanId);
  assert.equal(agent.filter((s) => s.name === 'turn.action' && s.parentSpanId === agentRun?.spanId).length, 1);

  // The metrics operators scale and alert on reached the same receiver.
  for (const m of ['paddock.turns.queue_depth', 'paddock.turn.queue_wait', 'paddock.turn.duration', 'guardian.reviews', 'egress.decisions'])
    assert.ok(receiver.metricNames.has(m), `metric ${m} exported (got ${[...receiver.metricNames].join(', ')})`);
});
