// The hardened container profile of docs/design.md "Containers", as one pure function: what every
// sandbox is created with. Tests read it back from `docker inspect`.
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { AGENT_DIR_IN_SANDBOX, type AgentRuntime, NODE_IN_SANDBOX } from './agent-runtime.ts';
import { HOME_DIR, WORKSPACE_DIR } from './exec-modes.ts';

export type SandboxLimits = {
  cpus: number;
  memoryMb: number;
  pids: number;
  tmpMb: number;
  homeMb: number;
  /** Wall-clock lifetime: past it the reaper removes the sandbox whatever it is doing. */
  lifetimeMs: number;
  /** Hard size of the workspace (an ext4 image on a loop device), MiB; 0 or unset: no quota. */
  workspaceDiskMb?: number;
};

export type SandboxShape = { image: string; limits: SandboxLimits };

/** Warm sandboxes are interchangeable only with the same image and limits. */
export function poolKey(shape: SandboxShape): string {
  const l = shape.limits;
  const disk = l.workspaceDiskMb ? `|disk=${l.workspaceDiskMb}` : ''; // unset: the keys of before
  const canonical = `${shape.image}|${l.cpus}|${l.memoryMb}|${l.pids}|${l.tmpMb}|${l.homeMb}|${l.lifetimeMs}${disk}`;
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

export const BASE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: HOME_DIR,
  LANG: 'C.UTF-8',
  TERM: 'dumb',
};

export function containerSpec(opts: {
  name: string;
  shape: SandboxShape;
  volumeName: string;
  networkName: string;
  runtime: AgentRuntime;
  labels: Record<string, string>;
}): Docker.ContainerCreateOptions {
  const { limits } = opts.shape;
  const memoryBytes = limits.memoryMb * 1024 * 1024;
  return {
    name: opts.name,
    Image: opts.shape.image,
    User: '1000:1000',
    WorkingDir: WORKSPACE_DIR,
    // Docker's own init (HostConfig.Init) reaps orphans and forwards signals, so any image works,
    // tini or not; the image's entrypoint is cleared so the command is exactly ours.
    Entrypoint: [''],
    Cmd: ['sleep', 'infinity'],
    Env: Object.entries(BASE_ENV).map(([k, v]) => `${k}=${v}`),
    Labels: opts.labels,
    StopSignal: 'SIGKILL',
    HostConfig: {
      Init: true,
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'], // seccomp: Docker's default profile stays on
      Privileged: false,
      PidsLimit: limits.pids,
      Memory: memoryBytes,
      MemorySwap: memoryBytes, // no swap: memory + swap = memory
      NanoCpus: Math.round(limits.cpus * 1e9),
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }],
      Tmpfs: {
        '/tmp': `rw,nosuid,nodev,size=${limits.tmpMb}m,mode=1777`,
        [HOME_DIR]: `rw,nosuid,nodev,size=${limits.homeMb}m,uid=1000,gid=1000,mode=0700`,
      },
      Mounts: [
        { Type: 'volume', Source: opts.volumeName, Target: WORKSPACE_DIR },
        { Type: 'bind', Source: opts.runtime.nodeBinary, Target: NODE_IN_SANDBOX, ReadOnly: true },
        { Type: 'bind', Source: opts.runtime.agentDir, Target: AGENT_DIR_IN_SANDBOX, ReadOnly: true },
      ],
      NetworkMode: opts.networkName,
      // No resolver: Docker's embedded DNS forwards to the container's own loopback, where nothing
      // answers. Names are resolved by the egress proxy only.
      Dns: ['127.0.0.1'],
      DnsSearch: [],
      DnsOptions: ['timeout:1', 'attempts:1'],
      Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' },
      IpcMode: 'private',
      RestartPolicy: { Name: 'no' },
    },
  };
}
