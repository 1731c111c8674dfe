// One sandbox: its container, workspace volume and address, and the exec agent session that runs
// commands and file operations in it. Created, attached to (after another worker made it) and
// destroyed here; who owns it and for which thread is the manager's business.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { PaddockError } from '@paddock/platform';
import {
  type ExecChunk,
  type ExecOutput,
  type ExecRequest,
  type ExecResult,
  LABEL,
  omittedMarker,
  sandboxLabels,
} from '@paddock/contracts';
import { type SandboxNetwork } from './sandbox-network.ts';
import type Docker from 'dockerode';
import { AgentSession, type AgentEvent } from './agent-session.ts';
import type { AgentRuntime } from './agent-runtime.ts';
import { BASE_ENV, containerSpec, type SandboxShape, poolKey } from './container-spec.ts';
import { launcherArgs, WORKSPACE_DIR } from './exec-modes.ts';
import { createWorkspaceDisk, removeWorkspaceDisk, type WorkspaceDisk } from './workspace-disk.ts';

export const DEFAULT_EXEC_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** Extra time the worker gives the agent to report a timed-out exec before giving up on the session. */
const AGENT_GRACE_MS = 5_000;

export type ExecOptions = {
  onChunk?: (chunk: ExecChunk) => void;
  extraEnv?: Record<string, string>;
  /** Aborting cancels the exec: the agent kills its whole process tree, the result says so. */
  signal?: AbortSignal;
};

export class Sandbox {
  readonly id: string;
  readonly containerId: string;
  readonly volumeName: string;
  readonly ip: string;
  readonly network: SandboxNetwork;
  readonly poolKey: string;
  /** The container's memory limit (memory + swap), MiB; what an OOM-killed command is told. */
  readonly memoryLimitMb: number | undefined;
  private readonly docker: Docker;
  private session: AgentSession | undefined;
  private starting: Promise<AgentSession> | undefined;

  constructor(opts: {
    docker: Docker;
    id: string;
    containerId: string;
    volumeName: string;
    ip: string;
    network: SandboxNetwork;
    poolKey: string;
    memoryLimitMb?: number;
    session?: AgentSession;
  }) {
    this.docker = opts.docker;
    this.id = opts.id;
    this.containerId = opts.containerId;
    this.volumeName = opts.volumeName;
    this.ip = opts.ip;
    this.network = opts.network;
    this.poolKey = opts.poolKey;
    this.memoryLimitMb = opts.memoryLimitMb;
    this.session = opts.session;
  }

  get container(): Docker.Container {
    return this.docker.getContainer(this.containerId);
  }

  /** The live agent session; a broken one is replaced (a command may have killed its own sandbox's agent). */
  async agent(): Promise<AgentSession> {
    if (this.session?.alive) return this.session;
    this.starting ??= AgentSession.start(this.container).finally(() => {
      this.starting = undefined;
    });
    this.session = await this.starting;
    return this.session;
  }

  async exec(req: ExecRequest, opts: ExecOptions = {}): Promise<ExecResult> {
    const agent = await this.agent();
    const execId = randomBytes(8).toString('hex');
    const timeoutMs = req.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const maxOutputBytes = req.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const streamed = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    let result: ExecResult | undefined;
    let failure: PaddockError | undefined;
    const stdin = req.stdin === undefined ? undefined : Buffer.from(req.stdin).toString('base64');
    const { id, done } = agent.request(
      {
        op: 'exec',
        execId,
        argv: req.argv,
        cwd: req.cwd ?? WORKSPACE_DIR,
        env: { ...BASE_ENV, ...req.env, ...opts.extraEnv },
        stdinB64: stdin,
        timeoutMs,
        maxOutputBytes,
        helperArgs: launcherArgs(req.mode, { writableRoots: req.writableRoots, network: req.network }),
      },
      (e: AgentEvent) => {
        switch (e.ev) {
          case 'started':
            return false;
          case 'out': {
            const stream = e['s'] === 'o' ? 'stdout' : 'stderr';
            const data = Buffer.from(String(e['d']), 'base64');
            streamed[stream].push(data);
            opts.onChunk?.({ stream, data });
            return false;
          }
          case 'exit':
            result = {
              execId,
              exitCode: (e['code'] as number | null) ?? null,
              signal: (e['signal'] as string | null) ?? null,
              timedOut: e['timedOut'] === true,
              oomKilled: e['oomKilled'] === true,
              pidsLimitHit: e['pidsLimitHit'] === true,
              stdout: assemble(streamed.stdout, e['stdout'], maxOutputBytes),
              stderr: assemble(streamed.stderr, e['stderr'], maxOutputBytes),
              durationMs: Number(e['durationMs']),
            };
            return true;
          default:
            failure = new PaddockError(String(e['code'] ?? 'exec_failed'), String(e['message'] ?? e.ev), {
              status: 502,
            });
            return true;
        }
      },
    );
    const cancel = () => agent.cancel(id);
    if (opts.signal?.aborted) cancel();
    else opts.signal?.addEventListener('abort', cancel, { once: true });
    // Backstop: the agent reports a timeout itself; if it cannot, the session is given up (fail closed).
    let backstop: NodeJS.Timeout | undefined;
    const lost = new Promise<never>((_, reject) => {
      backstop = setTimeout(() => {
        agent.cancel(id);
        agent.close();
        reject(
          new PaddockError(
            'exec_lost',
            `no answer from the exec agent ${AGENT_GRACE_MS} ms after the timeout`,
            { status: 502 },
          ),
        );
      }, timeoutMs + AGENT_GRACE_MS);
    });
    try {
      await Promise.race([done, lost]);
    } finally {
      clearTimeout(backstop);
      opts.signal?.removeEventListener('abort', cancel);
    }
    if (failure) throw failure;
    return result!;
  }

  async readFile(path: string, maxBytes = 16 * 1024 * 1024): Promise<Buffer> {
    const e = await (await this.agent()).call({ op: 'read', path, maxBytes });
    return Buffer.from(String(e['d']), 'base64');
  }

  async writeFile(path: string, data: string | Uint8Array): Promise<void> {
    await (await this.agent()).call({ op: 'write', path, dataB64: Buffer.from(data).toString('base64') });
  }

  async listDir(path = '.'): Promise<{ name: string; type: string; size: number; mtimeMs: number }[]> {
    const e = await (await this.agent()).call({ op: 'list', path });
    return e['entries'] as { name: string; type: string; size: number; mtimeMs: number }[];
  }

  /**
   * Whether the work tree (not .git) may have changed after `sinceMs`: the agent compares status
   * change times itself, no process spawned. True is always a safe answer.
   */
  async workTreeChangedSince(sinceMs: number): Promise<boolean> {
    const e = await (await this.agent()).call({ op: 'changed', sinceMs });
    return e['changed'] !== false;
  }

  async deletePath(path: string, recursive = false): Promise<void> {
    await (await this.agent()).call({ op: 'delete', path, recursive });
  }

  /** A tar of a workspace directory, made by `tar` in the sandbox with a read-only view. */
  async tarDir(path = '.', maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
    const dir = posix.resolve(WORKSPACE_DIR, path);
    if (dir !== WORKSPACE_DIR && !dir.startsWith(`${WORKSPACE_DIR}/`))
      throw new PaddockError('bad_path', `${path} is outside ${WORKSPACE_DIR}`, {
        status: 400,
        field: 'path',
      });
    const chunks: Buffer[] = [];
    const r = await this.exec(
      {
        argv: ['tar', '-C', dir, '-cf', '-', '.'],
        mode: 'read-only',
        maxOutputBytes: maxBytes,
        timeoutMs: 60_000,
      },
      { onChunk: (c) => c.stream === 'stdout' && chunks.push(c.data) },
    );
    if (r.stdout.totalBytes > maxBytes)
      throw new PaddockError('too_large', `tar of ${path} is over ${maxBytes} bytes`, { status: 413 });
    if (r.exitCode !== 0)
      throw new PaddockError('tar_failed', r.stderr.text.trim() || `tar exited ${r.exitCode}`, {
        status: 409,
      });
    return Buffer.concat(chunks);
  }

  close(): void {
    this.session?.close();
  }
}

function assemble(chunks: Buffer[], summary: unknown, maxBytes: number): ExecOutput {
  const s = summary as { total?: number; tail?: string } | undefined;
  const all = Buffer.concat(chunks);
  const totalBytes = s?.total ?? all.length;
  if (!s?.tail) return { text: all.toString('utf8'), totalBytes, omittedBytes: 0 };
  const head = all.subarray(0, Math.floor(maxBytes / 2));
  const tail = Buffer.from(s.tail, 'base64');
  const omittedBytes = totalBytes - head.length - tail.length;
  return {
    text: head.toString('utf8') + omittedMarker(omittedBytes) + tail.toString('utf8'),
    totalBytes,
    omittedBytes,
  };
}

/**
 * Creates the workspace volume (on its own quota disk when the limits give one) and the hardened
 * container, starts it and its agent. A disk quota without a data dir is refused, never dropped.
 */
export async function createSandbox(
  docker: Docker,
  opts: {
    shape: SandboxShape;
    network: SandboxNetwork;
    runtime: AgentRuntime;
    workerId: string;
    workspace?: string;
    thread?: string;
    warm?: boolean;
    scope?: Record<string, string>;
    /** The worker's data dir: workspace disk images live under it. */
    dataDir?: string;
    /**
     * A kept workspace (its container was stopped or lost): a new container on that volume, same
     * sandbox id; the volume (and its disk) is never created here, nor removed on failure.
     */
    reuse?: { sandboxId: string; volumeName: string };
  },
): Promise<Sandbox> {
  const id = opts.reuse?.sandboxId ?? `sbx_${randomBytes(8).toString('hex')}`;
  const key = poolKey(opts.shape);
  const common = {
    workerId: opts.workerId,
    sandboxId: id,
    workspace: opts.workspace,
    thread: opts.thread,
    poolKey: opts.warm ? key : undefined,
    expiresAt: Date.now() + opts.shape.limits.lifetimeMs,
    scope: opts.scope,
  };
  const volumeName = opts.reuse?.volumeName ?? `pdk-ws-${id}`;
  const diskMb = opts.reuse ? 0 : (opts.shape.limits.workspaceDiskMb ?? 0);
  let disk: WorkspaceDisk | undefined;
  if (diskMb > 0) {
    if (!opts.dataDir)
      throw new PaddockError('workspace_disk_failed', 'a workspace disk quota needs the worker data dir', { status: 500 });
    disk = await createWorkspaceDisk(opts.dataDir, {
      sandboxId: id,
      volumeName,
      workerId: opts.workerId,
      scope: opts.scope ?? {},
      expiresAt: common.expiresAt,
      sizeMb: diskMb,
      createdAt: Date.now(),
    });
  }
  let container: Docker.Container | undefined;
  try {
    const labels = sandboxLabels({ kind: 'workspace', ...common });
    if (disk) labels[LABEL.disk] = disk.imagePath;
    // The old container (stopped, or left by a dead worker) gives its name back first.
    if (opts.reuse) await removeContainer(docker, `pdk-${id}`);
    else await docker.createVolume({
      Name: volumeName,
      Labels: labels,
      // `device` (the loop device), not `o=loop`: the local driver hands `loop` to the kernel as mount
      // data. noinit_itable: the kernel does not zero the inode tables later, so the image stays sparse.
      ...(disk
        ? { Driver: 'local', DriverOpts: { type: 'ext4', device: disk.loopDevice, o: 'noinit_itable' } }
        : {}),
    });
    container = await docker.createContainer(
      containerSpec({
        name: `pdk-${id}`,
        shape: opts.shape,
        volumeName,
        networkName: opts.network.name,
        runtime: opts.runtime,
        labels: sandboxLabels({ kind: 'sandbox', ...common }),
      }),
    );
    await container.start();
    // The agent's exec and the address lookup are independent: both at once (a failure of either
    // removes the container below, which ends the other).
    const [info, session] = await Promise.all([container.inspect(), AgentSession.start(container)]);
    const ip = info.NetworkSettings.Networks[opts.network.name]?.IPAddress ?? '';
    if (!ip)
      throw new PaddockError(
        'sandbox_network_failed',
        `sandbox ${id} got no address on ${opts.network.name}`,
        { status: 503 },
      );
    return new Sandbox({
      docker,
      id,
      containerId: info.Id,
      volumeName,
      ip,
      network: opts.network,
      poolKey: key,
      memoryLimitMb: opts.shape.limits.memoryMb,
      session,
    });
  } catch (err) {
    await container?.remove({ force: true, v: true }).catch(() => {});
    if (opts.reuse) throw err; // the kept workspace stays for the next try
    await docker
      .getVolume(volumeName)
      .remove({ force: true })
      .catch(() => {});
    if (disk) await removeWorkspaceDisk(disk.imagePath).catch(() => {});
    throw err;
  }
}

/**
 * A sandbox another process created: found by id through its labels, with a fresh agent session.
 * It may sit on another worker's sandbox network: `networkOf` looks that network up (its record in
 * Redis), so the sandbox keeps its own address and its own gateway to the proxy.
 */
export async function attachSandbox(
  docker: Docker,
  sandboxId: string,
  network: SandboxNetwork,
  networkOf?: (name: string) => Promise<SandboxNetwork | undefined>,
): Promise<Sandbox | undefined> {
  const [found] = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${LABEL.sandbox}=${sandboxId}`, `${LABEL.kind}=sandbox`] }),
  });
  if (found?.State !== 'running') return undefined;
  const attached = found.NetworkSettings?.Networks ?? {};
  if (!attached[network.name]?.IPAddress && networkOf) {
    for (const name of Object.keys(attached)) {
      const other = await networkOf(name);
      if (other) {
        network = other;
        break;
      }
    }
  }
  const ip = attached[network.name]?.IPAddress ?? '';
  if (!ip) return undefined; // on no sandbox network we know: not usable (the reaper will deal with it)
  const volumeName = found.Mounts.find((m) => m.Destination === WORKSPACE_DIR)?.Name ?? `pdk-ws-${sandboxId}`;
  const memoryBytes = (await docker.getContainer(found.Id).inspect()).HostConfig.Memory ?? 0;
  const sandbox = new Sandbox({
    memoryLimitMb: memoryBytes > 0 ? Math.round(memoryBytes / 1024 / 1024) : undefined,
    docker,
    id: sandboxId,
    containerId: found.Id,
    volumeName,
    ip,
    network,
    poolKey: found.Labels[LABEL.pool] ?? '',
  });
  await sandbox.agent();
  return sandbox;
}

/** Removes a container (not its named volumes); a missing one is fine. */
export async function removeContainer(docker: Docker, containerId: string): Promise<void> {
  await docker
    .getContainer(containerId)
    .remove({ force: true })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
}

/** Whether the workspace volume still exists on this engine. */
export async function workspaceVolumeExists(docker: Docker, volumeName: string): Promise<boolean> {
  return docker
    .getVolume(volumeName)
    .inspect()
    .then(
      () => true,
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404) return false;
        throw err;
      },
    );
}

export async function destroySandbox(
  docker: Docker,
  sandbox: { containerId: string; volumeName: string; close?: () => void },
) {
  sandbox.close?.();
  await docker
    .getContainer(sandbox.containerId)
    .remove({ force: true, v: true })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
  await removeWorkspaceVolume(docker, sandbox.volumeName);
}

/** Removes a workspace volume and, when it sat on a quota disk, detaches and deletes that disk. */
export async function removeWorkspaceVolume(docker: Docker, volumeName: string): Promise<void> {
  const volume = docker.getVolume(volumeName);
  const labels = await volume.inspect().then(
    (v: { Labels?: Record<string, string> | null }) => v.Labels ?? {},
    (err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    },
  );
  if (!labels) return;
  await volume.remove({ force: true }).catch((err: { statusCode?: number }) => {
    if (err.statusCode !== 404) throw err;
  });
  const imagePath = labels[LABEL.disk];
  if (imagePath) await removeWorkspaceDisk(imagePath);
}
