// Redis keys of the sandbox runtime, shared with the egress proxy (which maps a connection's
// source address to a sandbox) and the orchestrator.

export const sandboxKeys = {
  /** Present (PX = lease) while the worker is alive; the reaper removes what a lapsed owner left. */
  workerLease: (workerId: string) => `paddock:worker:${workerId}:lease`,
  /** Hash: the sandbox's record (owner, tenant, thread, container, network, ip, lastUsedAt...). */
  sandbox: (sandboxId: string) => `paddock:sandbox:${sandboxId}`,
  /** String: the sandbox a thread uses, so the next turn reuses it. */
  threadSandbox: (tenant: string, thread: string) => `paddock:thread-sandbox:${tenant}:${thread}`,
  /** List of unassigned sandbox ids for one pool key; LPOP is the atomic claim. */
  warmPool: (poolKey: string) => `paddock:warm:${poolKey}`,
  /** JSON SandboxAddressRecord: what the proxy knows about a source address on a sandbox network. */
  address: (network: string, ip: string) => `paddock:sandbox-addr:${network}:${ip}`,
  /** JSON ExecCredentialRecord (PX = the exec's timeout): the per-exec proxy credential. */
  execCredential: (sandboxId: string, token: string) => `paddock:exec-cred:${sandboxId}:${token}`,
  /** JSON SandboxNetworkRecord: where the proxy must listen for one sandbox network. */
  network: (network: string) => `paddock:sandbox-network:${network}`,
};

export type SandboxAddressRecord = {
  sandboxId: string;
  tenant: string;
  thread: string;
  /** The thread's network policy as the worker resolved it; the proxy applies it. */
  policy: unknown;
};

export type ExecCredentialRecord = { sandboxId: string; execId: string; tenant: string; thread: string };

export type SandboxNetworkRecord = {
  name: string;
  id: string;
  bridge: string;
  gateway: string;
  subnet: string;
  proxyPort: number;
};
