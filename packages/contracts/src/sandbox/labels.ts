// Docker labels on every sandbox resource (container, volume, network): how a reaper finds what
// Paddock made, which worker owns it, and until when it may live.

export const LABEL = {
  managed: 'paddock.managed',
  sandbox: 'paddock.sandbox',
  /** The workspace id; the label keeps its first name so running sandboxes stay found. */
  workspace: 'paddock.tenant',
  thread: 'paddock.thread',
  /** The worker that created the resource; its Redis lease keeps the resource alive. */
  worker: 'paddock.worker',
  /** Warm-pool key (image + limits) of a pre-created sandbox; absent on sandboxes made for a thread. */
  pool: 'paddock.pool',
  /** Epoch ms after which the sandbox is past its wall-clock lifetime and is reaped. */
  expiresAt: 'paddock.expires-at',
  /** On a workspace volume with a disk quota: the path of its ext4 image (detached and deleted with it). */
  disk: 'paddock.workspace-disk',
  /** What the resource is: sandbox container, workspace volume, sandbox network. */
  kind: 'paddock.kind',
} as const;

export type ResourceKind = 'sandbox' | 'workspace' | 'sandbox-network';

/** Labels for a resource owned by `workerId`; `scope` adds the caller's own labels (tests add theirs). */
export function sandboxLabels(opts: {
  kind: ResourceKind;
  workerId: string;
  sandboxId?: string;
  workspace?: string;
  thread?: string;
  poolKey?: string;
  expiresAt?: number;
  scope?: Record<string, string>;
}): Record<string, string> {
  const labels: Record<string, string> = {
    ...opts.scope,
    [LABEL.managed]: 'true',
    [LABEL.kind]: opts.kind,
    [LABEL.worker]: opts.workerId,
  };
  if (opts.sandboxId) labels[LABEL.sandbox] = opts.sandboxId;
  if (opts.workspace) labels[LABEL.workspace] = opts.workspace;
  if (opts.thread) labels[LABEL.thread] = opts.thread;
  if (opts.poolKey) labels[LABEL.pool] = opts.poolKey;
  if (opts.expiresAt !== undefined) labels[LABEL.expiresAt] = String(opts.expiresAt);
  return labels;
}
