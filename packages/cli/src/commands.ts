// The `paddock` commands other than exec/run: each one API call or a short sequence of them through
// @paddock/sdk, printed for a person (tables, one line per thing) or, with --json, as the API's JSON.
// Errors are thrown (PaddockApiError, UsageError); main.ts turns them into one line and an exit code.
import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ok, PaddockApiError, type PaddockClient } from '@paddock/sdk';
import { UsageError } from './config.ts';

export type Out = { json: boolean };
const print = (s: string): void => {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
};
const printJson = (v: unknown): void => print(JSON.stringify(v, null, 2));

/** A table with padded columns (no library: a few lines, and no width guessing of ANSI text). */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** A 404 for the route itself (not for the thing): the server predates the route. */
export const isMissingRoute = (err: unknown) =>
  err instanceof PaddockApiError && err.status === 404 && err.message.startsWith('no route');

function needsRoute(what: string) {
  return (err: unknown): never => {
    if (isMissingRoute(err)) throw new PaddockApiError(404, { code: 'not_supported', message: `this server has no ${what} API yet (upgrade the orchestrator)` });
    throw err;
  };
}

export async function whoami(client: PaddockClient) {
  return ok(client.api.GET('/v1/whoami'));
}

/** The environment id `--env` names (an id, or a name in the workspace), else the only one there is. */
export async function resolveEnvironment(client: PaddockClient, wanted: string | undefined): Promise<string> {
  const envs: { id: string; name: string; repository?: { url: string } }[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const got = await ok(client.api.GET('/v1/environments', { params: { query: { limit: 100, ...(cursor ? { cursor } : {}) } } }));
    envs.push(...got.items);
    if (!got.next_cursor) break;
    cursor = got.next_cursor;
  }
  if (wanted) {
    const hit = envs.find((e) => e.id === wanted) ?? envs.filter((e) => e.name === wanted).at(-1);
    if (!hit) throw new UsageError(`--env ${wanted}: no such environment (have: ${envs.map((e) => e.name).join(', ') || 'none'})`);
    return hit.id;
  }
  if (envs.length === 1) return envs[0]!.id;
  // The environments `--repo` made (`<env> @ URL`) stand for their base: without --env, choose among the others.
  const names = new Set(envs.map((e) => e.name));
  const own = envs.filter((e) => !(e.repository && e.name.includes(' @ ') && names.has(e.name.slice(0, e.name.lastIndexOf(' @ ')))));
  if (own.length === 1) return own[0]!.id;
  if (envs.length === 0) throw new UsageError('this workspace has no environment: create one (POST /v1/environments) or run `npm start` locally');
  throw new UsageError(`several environments: pass --env NAME (one of: ${own.map((e) => e.name).join(', ')})`);
}

export type RepositoryWanted = { url: string; ref?: string; credential?: string };
type EnvironmentRecord = {
  id: string;
  name: string;
  image: string;
  setup_script: string;
  config: string;
  rules?: string;
  repository?: RepositoryWanted;
};

const hostOf = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
};
const sameRepository = (a: RepositoryWanted | undefined, b: RepositoryWanted) =>
  a !== undefined && a.url === b.url && (a.ref ?? '') === (b.ref ?? '') && (a.credential ?? '') === (b.credential ?? '');

/**
 * `--repo`: the environment that is `base` with this repository. Environments carry the repository
 * (threads take none), so this is `base` itself when it names that repository already, else an
 * environment of the workspace with base's image, setup script, config and rules and that repository
 * (created once, reused by later runs: no new environment per task).
 */
export async function environmentWithRepository(client: PaddockClient, baseId: string, repo: RepositoryWanted): Promise<string> {
  const base = (await ok(client.api.GET('/v1/environments/{id}', { params: { path: { id: baseId } } }))) as EnvironmentRecord;
  // The base's credential goes with its host only (a credential names the hosts it is for).
  const inherited = base.repository?.credential && hostOf(base.repository.url) === hostOf(repo.url) ? base.repository.credential : undefined;
  const credential = repo.credential ?? inherited;
  const wanted: RepositoryWanted = { url: repo.url, ...(repo.ref ? { ref: repo.ref } : {}), ...(credential ? { credential } : {}) };
  if (sameRepository(base.repository, wanted)) return base.id;
  const name = `${base.name} @ ${wanted.url}${wanted.ref ? `@${wanted.ref}` : ''}`.slice(0, 200);
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const got = await ok(client.api.GET('/v1/environments', { params: { query: { limit: 100, ...(cursor ? { cursor } : {}) } } }));
    const hit = (got.items as EnvironmentRecord[]).find(
      (e) =>
        e.name === name &&
        e.image === base.image &&
        e.setup_script === base.setup_script &&
        e.config === base.config &&
        (e.rules ?? '') === (base.rules ?? '') &&
        sameRepository(e.repository, wanted),
    );
    if (hit) return hit.id;
    if (!got.next_cursor) break;
    cursor = got.next_cursor;
  }
  const created = await ok(
    client.api.POST('/v1/environments', {
      body: {
        name,
        image: base.image,
        setup_script: base.setup_script,
        config: base.config,
        ...(base.rules !== undefined ? { rules: base.rules } : {}),
        repository: wanted,
      },
    }),
  );
  return created.id;
}

type ThreadRow = { id: string; status?: string; created_at?: string; created_by?: string; environment_id?: string };

/** GET /v1/threads, page by page (oldest first), at most `maxPages` pages. */
async function listThreads(client: PaddockClient, o: { limit?: number; maxPages: number; status?: 'active' | 'deleted' }) {
  const rows: ThreadRow[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < o.maxPages; page++) {
    const query = { ...(o.limit ? { limit: o.limit } : {}), ...(cursor ? { cursor } : {}), ...(o.status ? { status: o.status } : {}) };
    const got = await ok(client.api.GET('/v1/threads', { params: { query } })).catch(needsRoute('thread list'));
    rows.push(...got.items);
    if (!got.next_cursor) break;
    cursor = got.next_cursor;
  }
  return rows;
}

export async function threads(client: PaddockClient, o: Out & { limit?: number; all?: boolean }) {
  const rows = await listThreads(client, { limit: o.limit, maxPages: o.all ? 100 : 1 });
  if (o.json) return printJson(rows);
  if (rows.length === 0) return print('no threads');
  print(table([['THREAD', 'STATUS', 'CREATED', 'BY'], ...rows.map((t) => [t.id, t.status ?? '', t.created_at ?? '', t.created_by ?? ''])]));
}

export async function threadDiff(client: PaddockClient, threadId: string, sinceTurn?: string): Promise<string> {
  const q = sinceTurn ? `?since_turn=${encodeURIComponent(sinceTurn)}` : '';
  const res = await client
    .raw('GET', `/v1/threads/${encodeURIComponent(threadId)}/diff${q}`, { headers: { accept: 'text/x-diff' } })
    .catch(needsRoute('diff'));
  return res.text();
}

/** Applies the thread's diff to the git work tree around `cwd` (like `codex cloud apply`). */
export async function apply(client: PaddockClient, threadId: string, o: { sinceTurn?: string; check?: boolean; cwd?: string }) {
  const cwd = o.cwd ?? process.cwd();
  const top = spawnSync('git', ['rev-parse', '--show-toplevel'], { cwd, encoding: 'utf8' });
  if (top.status !== 0) throw new UsageError(`${cwd} is not inside a git work tree: cd into the repository to apply to`);
  const diff = await threadDiff(client, threadId, o.sinceTurn);
  if (!diff.trim()) return print('the thread changed nothing: nothing to apply');
  const args = ['apply', '--whitespace=nowarn', ...(o.check ? ['--check'] : []), '-'];
  const r = spawnSync('git', args, { cwd: top.stdout.trim(), input: diff, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new PaddockApiError(0, {
      code: 'apply_failed',
      message: `git apply refused the diff: ${r.stderr.trim().split('\n')[0] ?? ''} (commit or stash local changes, or \`paddock diff ${threadId} > x.patch\`)`,
    });
  }
  const files = [...diff.matchAll(/^diff --git a\/\S+ b\/(\S+)$/gm)].map((m) => m[1]);
  print(`${o.check ? 'would apply' : 'applied'} ${files.length} file${files.length === 1 ? '' : 's'}: ${files.join(', ')}`);
}

const filePath = (threadId: string, path: string) =>
  `/v1/threads/${encodeURIComponent(threadId)}/files/${path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')}`;

export async function filesGet(client: PaddockClient, threadId: string, path: string, output?: string) {
  const res = await client.raw('GET', filePath(threadId, path)).catch(needsRoute('files'));
  const bytes = Buffer.from(await res.arrayBuffer());
  if (output && output !== '-') writeFileSync(output, bytes);
  else process.stdout.write(bytes);
}

export async function filesPut(client: PaddockClient, threadId: string, path: string, input?: string) {
  const bytes = input && input !== '-' ? readFileSync(input) : readFileSync(0);
  await client
    .raw('PUT', filePath(threadId, path), { body: bytes, headers: { 'content-type': 'application/octet-stream' } })
    .catch(needsRoute('files'));
  print(`wrote ${bytes.length} bytes to ${path}`);
}

export async function filesDelete(client: PaddockClient, threadId: string, path: string, o: { recursive?: boolean } = {}) {
  await client.raw('DELETE', `${filePath(threadId, path)}${o.recursive ? '?recursive=true' : ''}`).catch(needsRoute('files'));
  print(`deleted ${path}`);
}

/** A directory of the workspace: one line per entry (type, size, name), or the API's JSON. */
export async function filesList(client: PaddockClient, threadId: string, path: string | undefined, o: Out) {
  const got = await ok(
    client.api.GET('/v1/threads/{id}/files', { params: { path: { id: threadId }, query: path ? { path } : {} } }),
  ).catch(needsRoute('files'));
  if (o.json) return printJson(got);
  if (got.entries.length === 0) return print(`${got.path}: empty`);
  print(table(got.entries.map((e) => [e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : e.type === 'file' ? '-' : '?', String(e.size), e.type === 'dir' ? `${e.name}/` : e.name])));
}

const archivePath = (threadId: string, path: string | undefined) =>
  `/v1/threads/${encodeURIComponent(threadId)}/archive${path ? `?path=${encodeURIComponent(path)}` : ''}`;

/** A directory of the workspace as a tar (to stdout, or -o FILE), streamed. */
export async function archiveGet(client: PaddockClient, threadId: string, path: string | undefined, output?: string) {
  const res = await client.raw('GET', archivePath(threadId, path)).catch(needsRoute('archive'));
  if (!res.body) return;
  await pipeline(Readable.fromWeb(res.body as never), output && output !== '-' ? createWriteStream(output) : process.stdout);
}

/** A tar (FILE, or stdin) unpacked into a directory of the workspace. */
export async function archivePut(client: PaddockClient, threadId: string, path: string | undefined, input?: string) {
  const bytes = input && input !== '-' ? readFileSync(input) : readFileSync(0);
  const res = await client
    .raw('PUT', archivePath(threadId, path), { body: bytes, headers: { 'content-type': 'application/x-tar' } })
    .catch(needsRoute('archive'));
  const r = (await res.json()) as { path: string; entries: number; bytes: number };
  print(`unpacked ${r.entries} entries (${r.bytes} bytes) into ${r.path}`);
}

type Approval = { id: string; thread_id: string; action: Record<string, unknown>; reason: string; status: string; created_at: string };

/** Pending approval requests across the given threads, or every thread the API lists. */
export async function approvalsInbox(client: PaddockClient, o: Out & { thread?: string[] }) {
  let threadIds = o.thread ?? [];
  if (threadIds.length === 0) {
    // Every open thread (bounded), not the first page only: the list is oldest first.
    const open = await listThreads(client, { limit: 100, maxPages: 100, status: 'active' }).catch((err: unknown) => {
      if (err instanceof PaddockApiError && err.code === 'not_supported') throw new UsageError('this server cannot list threads yet: pass --thread THREAD');
      throw err;
    });
    threadIds = open.map((t) => t.id);
  }
  const pending: Approval[] = [];
  for (const id of threadIds) {
    const got = await ok(client.api.GET('/v1/threads/{id}/approvals', { params: { path: { id }, query: { status: 'pending' } } }));
    pending.push(...(got.items as Approval[]));
  }
  if (o.json) return printJson(pending);
  if (pending.length === 0) return print('no pending approval requests');
  print(
    table([
      ['APPROVAL', 'THREAD', 'ASKED', 'ACTION'],
      ...pending.map((a) => [a.id, a.thread_id, a.created_at, JSON.stringify(a.action).slice(0, 80)]),
    ]),
  );
  print('answer with: paddock approvals approve|approve-for-thread|deny APPROVAL');
}

export async function decide(client: PaddockClient, id: string, decision: 'approve' | 'approve_for_thread' | 'deny') {
  const r = await ok(client.api.POST('/v1/approvals/{id}', { params: { path: { id } }, body: { decision } }));
  print(`${id}: ${(r as { status?: string }).status ?? decision}`);
}

export async function denials(client: PaddockClient, threadId: string, o: Out) {
  const got = await ok(client.api.GET('/v1/threads/{id}/denials', { params: { path: { id: threadId } } }));
  if (o.json) return printJson(got.items);
  if (got.items.length === 0) return print('no denials');
  print(
    table([
      ['DENIAL', 'SOURCE', 'WHEN', 'RATIONALE'],
      ...got.items.map((d) => [d.id, d.source, d.created_at, d.rationale.slice(0, 100)]),
    ]),
  );
}

export async function approveDenial(client: PaddockClient, threadId: string, denialId: string) {
  await ok(client.api.POST('/v1/threads/{id}/denials/{denial_id}/approve', { params: { path: { id: threadId, denial_id: denialId } } }));
  print(`${denialId}: one retry of exactly that action is allowed (it is still reviewed)`);
}

export async function usage(client: PaddockClient, o: Out & { days: number }) {
  const me = await whoami(client);
  const startS = Math.floor(Date.now() / 1000) - o.days * 86_400;
  const got = await ok(
    client.api.GET('/v1/analytics/workspaces/{workspace_id}/usage', {
      params: { path: { workspace_id: me.workspace_id }, query: { start_time: startS, group: 'workspace' } },
    }),
  );
  if (o.json) return printJson(got);
  const rows = (got.data as Record<string, unknown>[]).map((r) => [
    String(r['date'] ?? r['start_time'] ?? ''),
    String(r['turns'] ?? ''),
    String(r['input_tokens'] ?? ''),
    String(r['output_tokens'] ?? ''),
  ]);
  if (rows.length === 0) return print(`no usage in the last ${o.days} days`);
  print(table([['DAY', 'TURNS', 'INPUT TOKENS', 'OUTPUT TOKENS'], ...rows]));
}

export async function tokensCreate(client: PaddockClient, name: string, o: Out & { expiresInDays?: number; scopes?: string[] }) {
  const me = await whoami(client);
  const body = {
    name,
    expires_in_days: o.expiresInDays ?? null,
    ...(o.scopes?.length ? { scopes: o.scopes } : {}),
  } as { name: string; expires_in_days: number | null };
  const t = await ok(client.api.POST('/v1/workspaces/{ws}/access-tokens', { params: { path: { ws: me.workspace_id } }, body }));
  if (o.json) return printJson(t);
  print(`created token ${t.id} (${t.name}); its secret, shown this once:`);
  print(t.secret);
}

export async function tokensList(client: PaddockClient, o: Out) {
  const me = await whoami(client);
  const items: { id: string; name: string; member_email: string; expires_at: string | null; revoked_at: string | null }[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const got = await ok(
      client.api.GET('/v1/workspaces/{ws}/access-tokens', { params: { path: { ws: me.workspace_id }, query: cursor ? { cursor } : {} } }),
    );
    items.push(...got.items);
    if (!got.next_cursor) break;
    cursor = got.next_cursor;
  }
  if (o.json) return printJson(items);
  print(
    table([
      ['TOKEN', 'NAME', 'MEMBER', 'EXPIRES', 'STATE'],
      ...items.map((t) => [t.id, t.name, t.member_email, t.expires_at ?? 'never', t.revoked_at ? 'revoked' : t.id === me.token_id ? 'live (this one)' : 'live']),
    ]),
  );
}

export async function tokensRevoke(client: PaddockClient, id: string) {
  const me = await whoami(client);
  await ok(client.api.DELETE('/v1/workspaces/{ws}/access-tokens/{id}', { params: { path: { ws: me.workspace_id, id } } }));
  print(`revoked ${id}`);
}
