// The exec contract: what a caller asks a sandbox to run and what it gets back.

/**
 * Per exec, never per container: `read-only` may write nothing (but /dev/null), `workspace-write`
 * may write /workspace, /tmp and its writable roots, `escalated` (after approval) may write every
 * writable mount of the sandbox (workspace, /tmp, the home directory).
 */
export const EXEC_MODES = ['read-only', 'workspace-write', 'escalated'] as const;
export type ExecMode = (typeof EXEC_MODES)[number];

export type ExecRequest = {
  argv: string[];
  /** Absolute path inside the sandbox; default /workspace. */
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string | Uint8Array;
  mode: ExecMode;
  /** Extra writable paths for `workspace-write`; ignored in the other modes. */
  writableRoots?: string[];
  /** Hand the exec a proxy credential and HTTP(S)_PROXY; without it TCP connect is denied. */
  network?: boolean;
  timeoutMs?: number;
  /** Per stream: this many bytes are kept (half head, half tail); the middle is dropped and counted. */
  maxOutputBytes?: number;
};

export type ExecOutput = {
  /** Head + `[... N bytes omitted ...]` + tail when over the cap, else all of it. */
  text: string;
  totalBytes: number;
  omittedBytes: number;
};

export type ExecResult = {
  execId: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The kernel's OOM killer ended the command (memory limit of the sandbox). */
  oomKilled: boolean;
  /** The sandbox's pids limit was hit while the command ran (fork refused). */
  pidsLimitHit: boolean;
  stdout: ExecOutput;
  stderr: ExecOutput;
  durationMs: number;
};

export type ExecChunk = { stream: 'stdout' | 'stderr'; data: Buffer };

export const omittedMarker = (bytes: number) => `\n[... ${bytes} bytes omitted ...]\n`;
