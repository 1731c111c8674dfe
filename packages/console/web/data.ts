// What the views read, each a call (or a few) on the public API. The inbox and the denials span the
// workspace's threads: they list the threads, then ask each one, like any client could.
import { ok, rawText, sdk } from './api.ts';

export type Thread = {
  id: string;
  environment_id: string;
  status: string;
  created_at: string;
  created_by?: string;
  sandbox?: { state?: string };
};
export type Approval = {
  id: string;
  thread_id: string;
  turn_id: string;
  action: Record<string, unknown>;
  reason: string;
  status: string;
  created_at: string;
  expires_at?: string;
  transcript?: string;
  decision?: string;
  decided_by?: string;
};
export type Denial = {
  id: string;
  thread_id: string;
  turn_id: string;
  action: Record<string, unknown>;
  rationale: string;
  source: string;
  created_at: string;
  override?: { approved_by: string; approved_at: string };
};
export type Item = { id: string; type: string; [k: string]: unknown };
export type ThreadEvent = { id?: string; type: string; turn_id?: string; item?: Item; [k: string]: unknown };

const PAGE_SIZE = 100;
const MAX_PAGES = 5;

/** The workspace's active threads, newest first (every page, bounded). */
export async function listThreads(): Promise<Thread[]> {
  const out: Thread[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await ok(
      sdk().api.GET('/v1/threads', { params: { query: { status: 'active', limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } }),
    );
    out.push(...(page.items as Thread[]));
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out.reverse();
}

export async function pendingApprovals(): Promise<Approval[]> {
  const threads = (await listThreads()).filter((t) => t.status !== 'deleted');
  const lists = await Promise.all(
    threads.map((t) =>
      ok(sdk().api.GET('/v1/threads/{id}/approvals', { params: { path: { id: t.id }, query: { status: 'pending' } } })).then(
        (r) => r.items as Approval[],
        () => [] as Approval[],
      ),
    ),
  );
  return lists.flat().sort((a, b) => a.created_at.localeCompare(b.created_at));
}

export async function recentDenials(): Promise<Denial[]> {
  const threads = (await listThreads()).filter((t) => t.status !== 'deleted');
  const lists = await Promise.all(
    threads.map((t) =>
      ok(sdk().api.GET('/v1/threads/{id}/denials', { params: { path: { id: t.id } } })).then(
        (r) => r.items as Denial[],
        () => [] as Denial[],
      ),
    ),
  );
  return lists.flat().sort((a, b) => b.created_at.localeCompare(a.created_at));
}

/** The stored events of a thread (JSONL), parsed. */
export async function threadEvents(threadId: string): Promise<ThreadEvent[]> {
  const text = await rawText(`/v1/threads/${encodeURIComponent(threadId)}/events?format=jsonl`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ThreadEvent);
}

export type Review = Item & { thread_id: string; turn_id?: string };

/** Review items of the workspace's recent threads (their completed `review` items). */
export async function recentReviews(): Promise<Review[]> {
  const threads = (await listThreads()).slice(0, 20);
  const perThread = await Promise.all(
    threads.map(async (t) => {
      const events = await threadEvents(t.id).catch(() => [] as ThreadEvent[]);
      return events
        .filter((e) => e.type === 'item.completed' && e.item?.type === 'review')
        .map((e) => ({ ...(e.item as Item), thread_id: t.id, turn_id: e.turn_id }));
    }),
  );
  return perThread.flat();
}

/** One line saying what an action is: a command (argv, cwd), a network request, a file write, a tool call. */
export function describeAction(action: Record<string, unknown>): string {
  const argv = action['argv'] ?? action['command'];
  if (Array.isArray(argv)) return argv.map(String).join(' ');
  if (typeof argv === 'string') return argv;
  if (typeof action['host'] === 'string') {
    const method = typeof action['method'] === 'string' ? `${action['method']} ` : '';
    const port = action['port'] === undefined ? '' : `:${String(action['port'])}`;
    return `${method}${action['host']}${port}`;
  }
  if (Array.isArray(action['paths'])) return `write ${action['paths'].map(String).join(', ')}`;
  if (typeof action['name'] === 'string') return `tool ${action['name']}`;
  return JSON.stringify(action);
}
