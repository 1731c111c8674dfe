// Redis keys of the egress proxy's state, in one place so the worker (writer) and the proxy
// (reader) cannot drift.

export const egressKeys = {
  /** JSON SandboxEgressRecord. */
  sandbox: (sandboxId: string) => `paddock:egress:sandbox:${sandboxId}`,
  /** The sandbox id at `address` on the Docker network `network`. */
  source: (network: string, address: string) => `paddock:egress:source:${network}:${address}`,
  /** JSON ExecCredential under the sha256 (hex) of the token; PX TTL = its lifetime. */
  execCredential: (sandboxId: string, tokenSha256: string) =>
    `paddock:egress:cred:${sandboxId}:${tokenSha256}`,
  /** Hash `host:port` -> JSON ThreadGrant. */
  threadGrants: (threadId: string) => `paddock:egress:grants:${threadId}`,
  /** Hash {bytes_in, bytes_out, requests} per sandbox. */
  sandboxBytes: (sandboxId: string) => `paddock:egress:bytes:${sandboxId}`,
  /** Stream of DecisionRecord (decision.ts). */
  decisions: 'paddock:egress:decisions',
} as const;
