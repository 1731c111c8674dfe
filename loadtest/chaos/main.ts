// npm run chaos — fault injection on a real cluster (Redis with AOF, the orchestrator, the guardian,
// the egress proxy, sandbox workers as their own processes, Docker sandboxes, the fake model):
// scripted and agent turns from several workspaces in flight while a worker is SIGKILLed
// mid-command and mid-model-call, a worker is SIGTERMed (drain and hand-over), the orchestrator, the
// egress proxy (mid-tunnel) and a guardian replica behind HAProxy (mid-review) are SIGKILLed and
// restarted, and Redis is SIGKILLed and restarted on its AOF. Every command appends its own id to /workspace/ids.log in its
// sandbox; the suite counts ids seen twice across every sandbox of the run. Bounded: each wait has a
// deadline, the whole run CHAOS_DEADLINE_MS. Last stdout line: one JSON object (see README.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { keys, LABEL, parseEntries, type ThreadEvent } from '@paddock/contracts';
import { apiOf, type Cluster, newThread, newWorkspace, startCluster } from '@paddock/e2e-tests';
import { settingsFor as guardianSettingsFor } from '@paddock/e2e-tests/guardian-fixtures';
import { freePort, startGuardianLb, waitFor } from '@paddock/testing';
import Docker from 'dockerode';

const WORKSPACES = Number(process.env['CHAOS_WORKSPACES'] ?? 3);
const THREADS_PER_WORKSPACE = Number(process.env['CHAOS_THREADS'] ?? 2);
const TURNS_PER_THREAD = Number(process.env['CHAOS_TURNS'] ?? 4);
const DEADLINE_MS = Number(process.env['CHAOS_DEADLINE_MS'] ?? 480_000);
const FAULT_WAIT_MS = 60_000;
const SETTLE_MS = 180_000;
const WORKER_GRACE_MS = 8_000;
const TERMINAL = new Set(['completed', 'failed', 'interrupted', 'cancelled']);

type Turn = { id: string; threadId: string; token: string; kind: 'scripted' | 'agent'; tag: string };
type Fault = { name: string; at: number; detail?: string; skipped?: string };
type LooseEvent = ThreadEvent & { turn_id?: string; item?: { id: string; type: string; message?: string } };

const log = (msg: string, extra: Record<string, unknown> = {}) =>
  console.error(JSON.stringify({ t: new Date().toISOString(), msg, ...extra }));

/** The child's first stdout line (its "ready"); every later line (its log) goes to our stderr, so the run's output keeps it. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let first = true;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (first) resolve(line);
      else process.stderr.write(`${line}\n`);
      first = false;
    });
  });
}

type Proc = { child: ChildProcess; ready: Promise<string>; exited: Promise<unknown[]> };

/** A service (orchestrator, egress proxy, guardian replica) in a process of its own (service.ts), so it can be SIGKILLed. */
function serviceProcess(kind: 'orchestrator' | 'egress-proxy' | 'guardian', options: unknown): Proc {
  const child = spawn(process.execPath, [new URL('./service.ts', import.meta.url).pathname], {
    env: { ...process.env, SERVICE: kind, SERVICE_OPTIONS: JSON.stringify(options), SERVICE_LOG_LEVEL: process.env['CHAOS_SERVICE_LOG_LEVEL'] ?? 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const ready = Promise.race([
    firstLine(child),
    exited.then(([code]) => Promise.reject(new Error(`${kind} exited (${String(code)}) before ready`))),
  ]);
  return { child, ready, exited };
}

/** SIGKILL, wait for the exit, start it again (same options, same port) and wait until it answers. */
async function killAndRestart(p: Proc, again: () => Proc): Promise<{ next: Proc; downMs: number }> {
  const at = Date.now();
  p.child.kill('SIGKILL');
  await p.exited;
  const next = again();
  await next.ready;
  return { next, downMs: Date.now() - at };
}

/** Waits (bounded) for a moment worth a fault; past the bound the fault is injected anyway and the output says so. */
async function softWait(check: () => Promise<boolean>, what: string): Promise<string | undefined> {
  return waitFor(check, FAULT_WAIT_MS, what).then(
    () => undefined,
    () => `not seen within ${FAULT_WAIT_MS} ms: ${what}`,
  );
}

/** Worker processes the suite can kill; each gets the cluster's worker options and a long lease. */
function workerProcess(c: Cluster, guardianUrl: string): { child: ChildProcess; ready: Promise<string>; exited: Promise<unknown[]> } {
  // A long lease: a killed worker's sandboxes stay until the end, where their ids.log is counted.
  const { docker: _d, logger: _l, ...plain } = c.workerOptions({ leaseMs: 600_000, concurrency: 3, keepSandboxesOnClose: true, guardianUrl });
  const child = spawn(process.execPath, [new URL('./worker.ts', import.meta.url).pathname], {
    env: { ...process.env, WORKER_OPTIONS: JSON.stringify(plain), SHUTDOWN_GRACE_MS: String(WORKER_GRACE_MS), WORKER_LOG_LEVEL: process.env['CHAOS_WORKER_LOG_LEVEL'] ?? 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const ready = firstLine(child).then((l) => l.split(' ')[1]!);
  return { child, ready, exited };
}

async function events(c: Cluster, threadId: string): Promise<{ id: string; event: LooseEvent }[]> {
  return parseEntries((await c.client.xrange(keys.events(threadId), '-', '+')) as [string, string[]][]) as {
    id: string;
    event: LooseEvent;
  }[];
}

/** A command item started and not completed on any of the threads (whose item text matches `like`, when given). */
async function commandInProgress(c: Cluster, threads: string[], like?: RegExp): Promise<boolean> {
  for (const t of threads) {
    const open = new Set<string>();
    for (const { event: e } of await events(c, t)) {
      if (e.item?.type !== 'command_execution') continue;
      if (like && !like.test(JSON.stringify(e.item))) continue;
      if (e.type === 'item.started') open.add(e.item.id);
      if (e.type === 'item.completed') open.delete(e.item.id);
    }
    if (open.size > 0) return true;
  }
  return false;
}

/**
 * The guardian's fake model: every review of a command carrying DENY_MARK is denied, every other one
 * allowed; slow enough that a replica can be killed while it holds one.
 */
const DENY_MARK = 'chaos-deny';
function scriptGuardian(c: Cluster) {
  c.guardianModel.setHandler((req) =>
    JSON.stringify(req.body).includes(DENY_MARK)
      ? { kind: 'json', value: { risk_level: 'high', user_authorization: 'low', outcome: 'deny', rationale: 'chaos: denied' }, delayMs: 800 }
      : { kind: 'json', value: { risk_level: 'low', user_authorization: 'unknown', outcome: 'allow', rationale: 'chaos: routine' }, delayMs: 800 },
  );
}

/** The fake agent model: one shell call per turn (appending the turn's id), then an answer; slow, so kills land mid-call. */
function scriptAgent(c: Cluster) {
  let n = 0;
  c.agentModel.setHandler((req) => {
    const messages = (req.body['messages'] ?? []) as { role: string; content?: unknown }[];
    const lastUser = [...messages].reverse().find((m) => m.role === 'user');
    const tag = /chaos-agent (\S+)/.exec(String(lastUser?.content ?? ''))?.[1] ?? 'unknown';
    const userAt = messages.lastIndexOf(lastUser!);
    const answered = messages.slice(userAt + 1).some((m) => m.role === 'tool');
    if (answered) return { kind: 'text', text: `done ${tag}`, delayMs: 1500 };
    return {
      kind: 'tool_call',
      name: 'shell',
      callId: `call_${tag}_${n++}`,
      arguments: { command: ['bash', '-c', `echo ${tag}-a >> /workspace/ids.log; sleep 2`] },
      delayMs: 1500,
    };
  });
}

async function main() {
  const runStartedAt = Date.now();
  // No in-process proxy: it runs as a process (below) the suite can SIGKILL mid-tunnel.
  const c = await startCluster('chaos', { workers: 0, worker: { turnLockMs: 4_000 }, egressProxy: false });
  const workers: ReturnType<typeof workerProcess>[] = [];
  const services: Proc[] = [];
  let lb: Awaited<ReturnType<typeof startGuardianLb>> | undefined;
  const faults: Fault[] = [];
  const hardStop = setTimeout(() => {
    log('chaos deadline passed', { deadlineMs: DEADLINE_MS });
    process.exit(2);
  }, DEADLINE_MS);
  hardStop.unref();
  try {
    // Two guardian replicas (processes) behind compose's HAProxy config; workers and the proxy review through it.
    const guardianPorts = [await freePort(), await freePort()];
    const guardianOptions = guardianPorts.map((port) => guardianSettingsFor(c.guardianModel.url, { host: '127.0.0.1', port }));
    const guardians = guardianOptions.map((o) => serviceProcess('guardian', o));
    services.push(...guardians);
    await Promise.all(guardians.map((g) => g.ready));
    lb = await startGuardianLb(guardianPorts.map((port) => ({ host: '127.0.0.1', port })));
    const proxyOptions = { ...c.proxyOptions, guardianUrl: lb.url };
    let proxy = serviceProcess('egress-proxy', proxyOptions);
    services.push(proxy);
    await proxy.ready;
    const guardianUrl = lb.url;
    const start = async () => {
      const w = workerProcess(c, guardianUrl);
      workers.push(w);
      await w.ready;
      return w;
    };
    await start();
    await start();
    scriptAgent(c);
    scriptGuardian(c);
    // Workspaces and threads through the in-process orchestrator; then it is closed and the turns go
    // to an orchestrator process (fixed port) the suite can SIGKILL.
    const turns: Turn[] = [];
    const threads: string[] = [];
    let refused = 0;
    const net = `http://${c.allowed.name}:${c.allowed.port}/`;
    // Every thread: on-request with the guardian reviewing (`bash` is a prompt rule), the allowed
    // upstream on its network allowlist.
    const reviewed = {
      sandbox_mode: 'workspace-write',
      approval_policy: 'on-request',
      approvals_reviewer: 'auto_review',
      model_provider: 'fake-chat',
      rules: [{ pattern: ['bash'], decision: 'prompt' }],
      network: { mode: 'allowlist', allowed_domains: [c.allowed.name], allowed_ports: [c.allowed.port] },
    };
    const planned: { threadId: string; token: string; kind: Turn['kind'] | 'denied'; tag: string; body: unknown }[] = [];
    for (let w = 0; w < WORKSPACES; w++) {
      const ws = await newWorkspace(c, `chaos${w}`);
      for (let t = 0; t < THREADS_PER_WORKSPACE; t++) {
        const threadId = await newThread(c, ws.owner, reviewed);
        threads.push(threadId);
        for (let k = 0; k < TURNS_PER_THREAD; k++) {
          const kind = (w + t + k) % 2 === 0 ? 'scripted' : 'agent';
          const tag = `w${w}t${t}k${k}`;
          // A scripted turn: two plain commands, then a networked one that holds tunnels open a while.
          const body =
            kind === 'scripted'
              ? {
                  commands: [
                    ...[0, 1].map((i) => ({ argv: ['bash', '-c', `echo ${tag}-${i} >> /workspace/ids.log; sleep 2`] })),
                    {
                      argv: ['bash', '-c', `for i in 1 2 3 4 5 6; do curl -sS -o /dev/null --max-time 3 ${net} || true; sleep 0.5; done; echo ${tag}-net >> /workspace/ids.log`],
                    },
                  ],
                }
              : { input: `chaos-agent ${tag}` };
          planned.push({ threadId, token: ws.owner, kind, tag, body });
        }
      }
      // One thread per workspace whose every command the guardian denies: none may run (its marker never written).
      const deniedThread = await newThread(c, ws.owner, reviewed);
      threads.push(deniedThread);
      const tag = `w${w}deny`;
      planned.push({
        threadId: deniedThread,
        token: ws.owner,
        kind: 'denied',
        tag,
        body: { commands: [{ argv: ['bash', '-c', `echo ${tag}-${DENY_MARK} >> /workspace/ids.log`] }] },
      });
    }
    await c.orchestrator.close();
    const orchestratorOptions = { ...c.orchestratorOptions, listenPort: await freePort() };
    let orchestrator = serviceProcess('orchestrator', orchestratorOptions);
    services.push(orchestrator);
    await orchestrator.ready;
    const call = apiOf({ apiUrl: `http://127.0.0.1:${orchestratorOptions.listenPort}` });
    const deniedTurns: Turn[] = [];
    for (const p of planned) {
      const r = await call('POST', `/v1/threads/${p.threadId}/turns`, p.token, p.body);
      if (r.status !== 202) {
        refused++;
        log('turn refused', { status: r.status, body: r.json });
      } else if (p.kind === 'denied') deniedTurns.push({ id: r.json.id as string, threadId: p.threadId, token: p.token, kind: 'scripted', tag: p.tag });
      else turns.push({ id: r.json.id as string, threadId: p.threadId, token: p.token, kind: p.kind, tag: p.tag });
    }
    turns.push(...deniedTurns);
    log('turns accepted', { accepted: turns.length, refused });

    // 1. A worker SIGKILLed while a command runs.
    let note = await softWait(() => commandInProgress(c, threads), 'a command in progress');
    workers[0]!.child.kill('SIGKILL');
    faults.push({ name: 'worker_sigkill_mid_command', at: Date.now(), ...(note ? { detail: note } : {}) });
    await workers[0]!.exited;
    await start();
    // 2. A worker SIGKILLed while a model call is held.
    note = await softWait(async () => c.agentModel.inFlight() > 0, 'a model call in flight');
    workers[1]!.child.kill('SIGKILL');
    faults.push({ name: 'worker_sigkill_mid_model_call', at: Date.now(), ...(note ? { detail: note } : {}) });
    await workers[1]!.exited;
    await start();
    // 3. A worker SIGTERMed: it drains, hands over what cannot finish, exits 0.
    note = await softWait(() => commandInProgress(c, threads), 'a command in progress');
    const drained = workers[2]!;
    drained.child.kill('SIGTERM');
    const termAt = Date.now();
    const [code] = await drained.exited;
    faults.push({ name: 'worker_sigterm_drain', at: termAt, detail: `exit ${String(code)} after ${Date.now() - termAt} ms${note ? `; ${note}` : ''}` });
    await start();
    // 4. Redis SIGKILLed and restarted on its AOF.
    note = await softWait(() => commandInProgress(c, threads), 'a command in progress');
    await c.redis.restart({ signal: 'SIGKILL' });
    faults.push({ name: 'redis_sigkill_restart_aof', at: Date.now(), ...(note ? { detail: note } : {}) });
    // 5. The orchestrator SIGKILLed (accepted turns are in Redis; the restarted one dispatches them).
    note = await softWait(() => commandInProgress(c, threads), 'a command in progress');
    const o = await killAndRestart(orchestrator, () => serviceProcess('orchestrator', orchestratorOptions));
    orchestrator = o.next;
    services.push(orchestrator);
    faults.push({ name: 'orchestrator_sigkill', at: Date.now(), detail: `back after ${o.downMs} ms${note ? `; ${note}` : ''}` });
    // 6. The egress proxy SIGKILLed while a networked command has tunnels in flight.
    note = await softWait(() => commandInProgress(c, threads, /-net >>/), 'a networked command in progress');
    const p = await killAndRestart(proxy, () => serviceProcess('egress-proxy', proxyOptions));
    proxy = p.next;
    services.push(proxy);
    faults.push({ name: 'egress_proxy_sigkill_mid_tunnel', at: Date.now(), detail: `back after ${p.downMs} ms${note ? `; ${note}` : ''}` });
    // 7. A guardian replica SIGKILLed while the guardian holds a review (HAProxy sends the next ones to the other).
    note = await softWait(async () => c.guardianModel.inFlight() > 0, 'a review in flight');
    const g = await killAndRestart(guardians[0]!, () => serviceProcess('guardian', guardianOptions[0]));
    services.push(g.next);
    faults.push({ name: 'guardian_replica_sigkill_mid_review', at: Date.now(), detail: `back after ${g.downMs} ms${note ? `; ${note}` : ''}` });
    log('faults injected', { faults });

    const deniedIds = new Set(deniedTurns.map((t) => t.id));
    const main = await tally(c, turns, (t) =>
      deniedIds.has(t.id) ? [] : t.kind === 'scripted' ? [`${t.tag}-0`, `${t.tag}-1`, `${t.tag}-net`] : [`${t.tag}-a`],
    );
    // Commands the guardian denied that ran anyway (their marker is in a workspace); and that it did deny.
    const unapproved = [...main.seen.keys()].filter((id) => id.endsWith(DENY_MARK));
    if (unapproved.length) log('denied commands that ran', { ids: unapproved });
    const deniedReviews = c.guardianModel.requests.filter((r) => JSON.stringify(r.body).includes(DENY_MARK)).length;
    // Phase 2: a cluster on a Sentinel group, a failover with commands in flight.
    const ha = await sentinelPhase(faults);
    const all = [main, ha];
    const sum = (f: (t: Tally) => number) => all.reduce((n, t) => n + f(t), 0);
    const failed = all.flatMap((t) => t.failed);
    const lost = sum((t) => t.lost);
    const twice = sum((t) => t.twice.length);
    const contradictory = sum((t) => t.contradictory);
    const summary = {
      accepted_turns: sum((t) => t.accepted),
      refused_turns: refused,
      turns_lost: lost,
      commands_run_twice: twice,
      commands_seen: sum((t) => t.seen.size),
      // Expected ids in no sandbox: those whose command never reported a result (killed before its
      // echo ran: outcome unknown, rightly not run again) and the rest (unexplained).
      commands_outcome_unknown: sum((t) => t.missingOutcomeUnknown.length),
      commands_unverified: sum((t) => t.missingUnexplained.length),
      // Every command is guardian-reviewed (on-request, `bash` a prompt rule); those denied must not have run.
      unapproved_actions: unapproved.length,
      denied_turns: deniedTurns.length,
      denied_reviews: deniedReviews,
      turns_resumed: sum((t) => t.resumed),
      turns_failed: failed.length,
      turns_failed_reasons: [...new Set(failed.map((f) => `${f.code}: ${f.message}`))],
      contradictory_endings: contradictory,
      max_resume_wait_ms: Math.max(...all.map((t) => t.maxResumeWaitMs)),
      faults: faults.map((f) => (f.skipped ? `${f.name} (skipped: ${f.skipped})` : f.detail ? `${f.name} (${f.detail})` : f.name)),
      run_ms: Date.now() - runStartedAt,
    };
    console.log(JSON.stringify(summary));
    process.exitCode = lost === 0 && twice === 0 && contradictory === 0 && unapproved.length === 0 ? 0 : 1;
  } finally {
    c.agentModel.setHandler(undefined);
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => (w.child.exitCode === null && w.child.signalCode === null ? w.exited : undefined)));
    for (const s of services) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await Promise.all(services.map((s) => (s.child.exitCode === null && s.child.signalCode === null ? s.exited : undefined)));
    await lb?.stop();
    await c.close();
  }
}

type Tally = {
  accepted: number;
  lost: number;
  resumed: number;
  maxResumeWaitMs: number;
  contradictory: number;
  failed: { turn: string; kind: string; code: string; message: string }[];
  seen: Map<string, number>;
  twice: [string, number][];
  missingOutcomeUnknown: string[];
  missingUnexplained: string[];
};

/**
 * Settles (every accepted turn ends, bounded) and counts: lost, resumed, failed, endings, and each
 * command id (expectedOf) across the ids.log of every sandbox of the run. An expected id in no
 * sandbox is explained when its command item never completed with exit 0 (killed mid-command: its
 * outcome is unknown and it is not run again), else unexplained (a sandbox gone, or a bug).
 */
async function tally(c: Cluster, turns: Turn[], expectedOf: (t: Turn) => string[]): Promise<Tally> {
  const statusOf = async (t: Turn) => (await c.client.hget(keys.turn(t.id), 'status')) ?? 'missing';
  await waitFor(
    async () => (await Promise.all(turns.map(statusOf))).every((s) => TERMINAL.has(s)),
    SETTLE_MS,
    'every accepted turn to end',
  ).catch((err: Error) => log('not every turn ended', { err: err.message }));
  const out: Tally = {
    accepted: turns.length,
    lost: 0,
    resumed: 0,
    maxResumeWaitMs: 0,
    contradictory: 0,
    failed: [],
    seen: new Map(),
    twice: [],
    missingOutcomeUnknown: [],
    missingUnexplained: [],
  };
  const commandItems = new Map<string, LooseEvent['item'] & { exit_code?: number | null; status?: string; command?: string }>();
  for (const t of turns) {
    const [status, attempt, code, message] = await c.client.hmget(keys.turn(t.id), 'status', 'attempt', 'error_code', 'error_message');
    if (!status || !TERMINAL.has(status)) {
      out.lost++;
      log('turn lost', { turn: t.id, status });
      continue;
    }
    if (status === 'failed') out.failed.push({ turn: t.id, kind: t.kind, code: code ?? '', message: message ?? '' });
    const mine = (await events(c, t.threadId)).filter((e) => e.event.turn_id === t.id);
    for (const { event: e } of mine) if (e.type === 'item.completed' && e.item?.type === 'command_execution') commandItems.set(e.item.id, e.item);
    const ends = mine.filter((e) => e.event.type === 'turn.completed' || e.event.type === 'turn.failed');
    if (ends.length !== 1) out.contradictory++;
    if (Number(attempt ?? 1) > 1) {
      out.resumed++;
      // The wait: from the turn's last event before a resume note to the note.
      for (const [i, e] of mine.entries()) {
        if (e.event.type === 'item.completed' && e.event.item?.type === 'error' && /resumed/.test(e.event.item.message ?? '') && i > 0) {
          out.maxResumeWaitMs = Math.max(out.maxResumeWaitMs, Number(e.id.split('-')[0]) - Number(mine[i - 1]!.id.split('-')[0]));
        }
      }
    }
  }
  const docker = new Docker();
  const sandboxes = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${LABEL.kind}=sandbox`, `paddock.test=${c.run.runId}`] }),
  });
  for (const s of sandboxes) {
    const text = await readWorkspaceFile(docker, s.Id, '/workspace/ids.log');
    for (const id of text.split('\n').filter(Boolean)) out.seen.set(id, (out.seen.get(id) ?? 0) + 1);
  }
  log('sandboxes read', { sandboxes: sandboxes.length, ids: out.seen.size });
  out.twice = [...out.seen].filter(([, n]) => n > 1);
  const items = [...commandItems.values()];
  for (const id of turns.flatMap(expectedOf).filter((x) => !out.seen.has(x))) {
    const item = items.find((i) => JSON.stringify(i).includes(`${id} >>`));
    const ranToTheEnd = item?.status === 'completed' && item.exit_code === 0;
    (ranToTheEnd ? out.missingUnexplained : out.missingOutcomeUnknown).push(id);
    log(ranToTheEnd ? 'command id in no sandbox (unexplained)' : 'command id in no sandbox (outcome unknown)', {
      id,
      item: item ? { status: item.status, exit_code: item.exit_code, output: String((item as { aggregated_output?: string }).aggregated_output ?? '').slice(0, 200) } : 'none completed',
    });
  }
  for (const f of out.failed) log('turn failed', f);
  if (out.twice.length) log('commands run twice', { ids: out.twice });
  return out;
}

/**
 * Phase 2: a cluster whose every service connects through Sentinel (redis-sentinel://), scripted
 * turns from two workspaces, a SENTINEL FAILOVER while a command runs; then the same counts.
 */
async function sentinelPhase(faults: Fault[]): Promise<Tally> {
  const c = await startCluster('chaos-ha', {
    workers: 1,
    sentinel: true,
    worker: { turnLockMs: 4_000, leaseMs: 600_000, keepSandboxesOnClose: true },
  });
  try {
    const call = apiOf(c);
    const turns: Turn[] = [];
    const threads: string[] = [];
    for (let w = 0; w < 2; w++) {
      const ws = await newWorkspace(c, `chaosha${w}`);
      const threadId = await newThread(c, ws.owner, { sandbox_mode: 'workspace-write', approval_policy: 'never' });
      threads.push(threadId);
      for (let k = 0; k < 2; k++) {
        const tag = `ha${w}k${k}`;
        const body = { commands: [0, 1].map((i) => ({ argv: ['bash', '-c', `echo ${tag}-${i} >> /workspace/ids.log; sleep 2`] })) };
        const r = await call('POST', `/v1/threads/${threadId}/turns`, ws.owner, body);
        if (r.status === 202) turns.push({ id: r.json.id as string, threadId, token: ws.owner, kind: 'scripted', tag });
        else log('turn refused (sentinel phase)', { status: r.status, body: r.json });
      }
    }
    const note = await softWait(() => commandInProgress(c, threads), 'a command in progress (sentinel phase)');
    const at = Date.now();
    const { from, to } = await c.sentinel!.failover();
    faults.push({ name: 'redis_sentinel_failover', at, detail: `primary ${from} -> ${to} in ${Date.now() - at} ms${note ? `; ${note}` : ''}` });
    return await tally(c, turns, (t) => [`${t.tag}-0`, `${t.tag}-1`]);
  } finally {
    await c.close();
  }
}

/** A file of a sandbox's workspace, through an exec (no archive API on a read-only rootfs); '' when absent. */
async function readWorkspaceFile(docker: Docker, containerId: string, path: string): Promise<string> {
  const container = docker.getContainer(containerId);
  const info = await container.inspect().catch(() => undefined);
  if (!info?.State.Running) return '';
  const exec = await container.exec({ Cmd: ['cat', path], AttachStdout: true, AttachStderr: false });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const out = { write: (b: Buffer) => chunks.push(b) } as unknown as NodeJS.WritableStream;
  docker.modem.demuxStream(stream, out, { write: () => true } as unknown as NodeJS.WritableStream);
  await new Promise<void>((resolve) => {
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    setTimeout(resolve, 5_000).unref();
  });
  return Buffer.concat(chunks).toString('utf8');
}

await main();
