// Redis keys of the sandbox runtime, shared with the egress proxy (which listens on the sandbox
// networks recorded here) and the orchestrator. What the proxy knows about each sandbox and exec is
// the egress contract (`../egress/store.ts`), written by the sandbox manager.

export const sandboxKeys = {
  /** Present (PX = lease) while the worker is alive; the reaper removes what a lapsed owner left. */
  workerLease: (workerId: string) => `paddock:worker:${workerId}:lease`,
  /** Hash: the sandbox's record (owner, tenant, thread, container, network, ip, lastUsedAt...). */
  sandbox: (sandboxId: string) => `paddock:sandbox:${sandboxId}`,
  /** String: the sandbox a thread uses, so the next turn reuses it. */
  threadSandbox: (tenant: string, thread: string) => `paddock:thread-sandbox:${tenant}:${thread}`,
  /** List of unassigned sandbox ids for one pool key; LPOP is the atomic claim. */
  warmPool: (poolKey: string) => `paddock:warm:${poolKey}`,
  /** JSON SandboxNetworkRecord: where the proxy must listen for one sandbox network. */
  network: (network: string) => `paddock:sandbox-network:${network}`,
  /**
   * Sorted set: threads deleted whose sandbox may still exist, members JSON {tenant, thread}, scored by
   * deletion time (ms). The orchestrator adds; the worker owning the sandbox removes it once destroyed.
   */
  deletedThreads: () => 'paddock:sandbox:deleted-threads',
};

export const sandboxChannels = {
  /** Published with a deletedThreads member when a thread is deleted: its sandbox goes now. */
  threadDeleted: 'paddock:sandbox:thread-deleted',
};

export type SandboxNetworkRecord = {
  name: string;
  id: string;
  bridge: string;
  gateway: string;
  subnet: string;
  proxyPort: number;
};
