// `paddock exec` and `paddock run`: one turn in a new thread, streamed to its end. `--json` prints the
// thread's event stream to stdout as JSONL, nothing else; on a terminal the turn is drawn live
// (render.ts) and approval requests are answered inline. Ctrl-C interrupts the turn on the server and
// waits for its end (a second Ctrl-C quits at once). The exit code is the turn's: 0 completed, else 1.
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { followEvents, ok, PaddockApiError, type PaddockClient, readEvents, type ThreadEvent } from '@paddock/sdk';
import { type Connection, UsageError, writeConfig } from './config.ts';
import { changedFilesOf, describeAction, TurnRenderer, type TurnOutcome } from './render.ts';

export type TurnRequest =
  | { kind: 'agent'; prompt: string }
  | { kind: 'script'; argv: string[] };

export type ExecOptions = {
  environmentId: string;
  /** The thread's config layer (from -c key=value). */
  config: Record<string, unknown>;
  json: boolean;
  /** `codex`: the Codex-compatible view of the stream (with --json). */
  view?: string;
  /** The terminal, when stdout is one: live drawing and inline approvals. */
  tty: boolean;
  columns?: number;
};

/** Parses `-c key=value` (dotted keys nest; the value is JSON when it parses, else a string). */
export function configOverrides(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`-c ${pair}: expected key=value (e.g. -c approval_policy=never)`);
    const path = pair.slice(0, at).trim().split('.');
    const raw = pair.slice(at + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let node = out;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      node = (typeof next === 'object' && next !== null ? next : (node[key] = {})) as Record<string, unknown>;
    }
    node[path.at(-1)!] = value;
  }
  return out;
}

/** `--repo URL[@REF]` as the API takes it: an http(s) clone URL without user or password, and a ref. */
export function repositoryOption(spec: string, credential?: string): { url: string; ref?: string; credential?: string } {
  const r = parseRepo(spec);
  let url: URL | undefined;
  try {
    url = new URL(r.url);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    throw new UsageError(`--repo ${spec}: give an https:// clone URL (optionally @REF), e.g. https://github.com/org/repo.git@main`);
  if (url.username || url.password)
    throw new UsageError(`--repo ${spec}: no user or password in the URL (the cluster's named credentials hold them: --repo-credential NAME)`);
  return { ...r, ...(credential ? { credential } : {}) };
}

/** `URL[@REF]`: the ref is what follows the last `@` after the host part (so `git@host:x` stays whole). */
export function parseRepo(spec: string): { url: string; ref?: string } {
  const hostEnd = spec.indexOf('://') >= 0 ? spec.indexOf('/', spec.indexOf('://') + 3) : spec.indexOf(':');
  const at = spec.lastIndexOf('@');
  if (at > hostEnd && hostEnd >= 0) return { url: spec.slice(0, at), ref: spec.slice(at + 1) };
  return { url: spec };
}

/** Asks one line on the terminal; Ctrl-C during the question calls onInterrupt. */
function ask(question: string, onInterrupt: () => void): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  return new Promise((resolve) => {
    rl.on('SIGINT', () => {
      rl.close();
      onInterrupt();
      resolve('');
    });
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer.trim().toLowerCase());
    });
  });
}

/** The thread's diff as changed-file lines; undefined when this server has no diff route. */
async function changedFiles(client: PaddockClient, threadId: string): Promise<string[] | undefined> {
  try {
    const res = await client.raw('GET', `/v1/threads/${encodeURIComponent(threadId)}/diff`, {
      headers: { accept: 'text/x-diff' },
    });
    return changedFilesOf(await res.text());
  } catch {
    return undefined;
  }
}

export async function execTurn(conn: Connection, client: PaddockClient, req: TurnRequest, o: ExecOptions): Promise<number> {
  const body: Record<string, unknown> = { environment_id: o.environmentId };
  if (Object.keys(o.config).length) body['config'] = o.config;
  const thread = await ok(client.api.POST('/v1/threads', { body: body as { environment_id: string } }));
  try {
    writeConfig({ last_thread: thread.id }); // so `paddock diff` / `apply` find it without an id
  } catch {
    // A read-only config folder only loses the default; the thread id is printed anyway.
  }
  const turnBody = req.kind === 'agent' ? { input: req.prompt } : { commands: [{ argv: req.argv }] };
  // An idempotency key: a retried submit never queues (and runs) the turn twice.
  const turn = await ok(
    client.api.POST('/v1/threads/{id}/turns', {
      params: { path: { id: thread.id } },
      body: turnBody,
      headers: { 'idempotency-key': randomUUID() },
    }),
  );
  const out = (s: string) => process.stdout.write(s);
  const renderer = new TurnRenderer({ write: out, tty: o.tty, columns: o.columns });
  if (!o.json) renderer.line(`thread ${thread.id} · turn ${turn.id}`);

  const stop = new AbortController();
  let interrupts = 0;
  const interrupt = () => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write('\nquitting without waiting for the turn to end\n');
      stop.abort();
      process.exit(1);
    }
    const say = `interrupting turn ${turn.id} on the server… (Ctrl-C again to quit without waiting)`;
    if (o.json) process.stderr.write(`${say}\n`);
    else renderer.line(say);
    void ok(
      client.api.POST('/v1/threads/{id}/turns/{turn_id}/interrupt', { params: { path: { id: thread.id, turn_id: turn.id } } }),
    ).catch((err: Error) => renderer.line(`the interrupt was refused: ${err.message}`));
  };
  process.on('SIGINT', interrupt);

  const ends = (e: ThreadEvent) => (e.type === 'turn.completed' || e.type === 'turn.failed') && e.turn_id === turn.id;
  let outcome: TurnOutcome | undefined;
  try {
    if (o.json && o.view) {
      // The server's own view of the stream (e.g. Codex's), passed through line by line.
      const res = await client.raw(
        'GET',
        `/v1/threads/${encodeURIComponent(thread.id)}/events?format=jsonl&follow=true&view=${encodeURIComponent(o.view)}`,
      );
      // Read as it arrives (followed JSONL: the server writes each line as the event is stored).
      // The thread is new, so its first turn.completed / turn.failed is this turn's (the view has no turn ids).
      for await (const { event } of readEvents(res)) {
        out(`${JSON.stringify(event)}\n`);
        const e = event as { type: string; message?: string; error?: { code?: string; message?: string } };
        if (e.type === 'turn.completed') outcome = { status: 'completed', commands: 0 };
        if (e.type === 'turn.failed') outcome = { status: 'failed', code: e.error?.code, commands: 0 };
        if (outcome) break;
        // The server closing the stream (a revoked token, a shutdown) is a top-level error with a code.
        if (e.type === 'error' && e.error?.code)
          throw new PaddockApiError(0, { code: e.error.code, message: e.error.message ?? e.message ?? 'the event stream was closed' });
      }
    } else {
      renderer.start();
      for await (const { event } of followEvents({ baseUrl: conn.url, token: conn.token, threadId: thread.id, signal: stop.signal })) {
        if (o.json) out(`${JSON.stringify(event)}\n`);
        else {
          const ended = renderer.event(event);
          if (ended && ends(event)) outcome = ended;
          if (event.type === 'item.started' && event.item.type === 'approval_request' && event.item.status === 'pending')
            await answerApproval(client, renderer, event.item, o, interrupt);
        }
        if (ends(event)) {
          outcome ??= event.type === 'turn.completed' ? { status: 'completed', commands: 0 } : { status: 'failed', commands: 0 };
          break;
        }
      }
    }
  } finally {
    process.off('SIGINT', interrupt);
    renderer.stop();
  }
  if (!outcome) throw new PaddockApiError(0, { code: 'stream_ended', message: 'the event stream ended before the turn did' });
  if (!o.json) renderer.summary(outcome, await changedFiles(client, thread.id));
  return outcome.status === 'completed' ? 0 : 1;
}

async function answerApproval(
  client: PaddockClient,
  renderer: TurnRenderer,
  item: { approval_id: string; action: unknown },
  o: ExecOptions,
  interrupt: () => void,
): Promise<void> {
  const what = describeAction(item.action);
  if (!o.tty || !process.stdin.isTTY) {
    renderer.line(`? approval requested: ${what} — answer with \`paddock approvals approve ${item.approval_id}\` (or deny)`);
    return;
  }
  renderer.pause();
  process.stdout.write(`? approval requested: ${what}\n`);
  for (;;) {
    const answer = await ask('  approve? [y]es / [t]his thread / [n]o: ', interrupt);
    const decision =
      answer === 'y' || answer === 'yes'
        ? 'approve'
        : answer === 't'
          ? 'approve_for_thread'
          : answer === 'n' || answer === 'no'
            ? 'deny'
            : answer === ''
              ? undefined
              : 'again';
    if (decision === 'again') continue;
    if (decision) {
      try {
        await ok(client.api.POST('/v1/approvals/{id}', { params: { path: { id: item.approval_id } }, body: { decision } }));
      } catch (err) {
        // Already decided elsewhere (409) or timed out: the stream says what happened.
        process.stdout.write(`  (${(err as Error).message})\n`);
      }
    }
    break;
  }
  renderer.resume();
}
